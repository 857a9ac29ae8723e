package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Backend is what the API exposes; the daemon implements it.
type Backend interface {
	Status() []InstanceStatus
	// Drain and Resume act on one instance, or all when name is "", and
	// return the names they applied to.
	Drain(name string) ([]string, error)
	Resume(name string) ([]string, error)
	Reload() (ReloadResponse, error)
	// Subscribe streams transitions until cancel is called.
	Subscribe() (events <-chan Transition, cancel func())
}

// ErrNotFound is returned by a Backend for an unknown instance name.
var ErrNotFound = errors.New("no such instance")

// Server serves the API on a unix socket.
type Server struct {
	path string
	ln   net.Listener
	srv  *http.Server
}

// Listen creates the socket at path with mode 0660 (group from group, a
// name or numeric gid; "" keeps the default). A stale socket left by a dead
// daemon is replaced; one a live daemon answers on is an error.
func Listen(path, group string, b Backend) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another failoverd is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing stale socket: %w", path, err)
		}
	}
	// The socket is created with the process umask; restrict it before
	// anyone can connect, then set the intended mode.
	old := syscall.Umask(0o117)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := setGroup(path, group); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	done := make(chan struct{})
	s := &Server{path: path, ln: ln, srv: &http.Server{Handler: handler(b, done), ReadHeaderTimeout: 5 * time.Second}}
	// Event streams never go idle; end them when the server shuts down.
	s.srv.RegisterOnShutdown(func() { close(done) })
	return s, nil
}

func setGroup(path, group string) error {
	if group == "" {
		return nil
	}
	gid, err := strconv.Atoi(group)
	if err != nil {
		g, lerr := user.LookupGroup(group)
		if lerr != nil {
			return fmt.Errorf("control_socket_group %q: %w", group, lerr)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("control socket %s: set group %s: %w", path, group, err)
	}
	return nil
}

// Serve answers requests until Close.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving (streams included) and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	os.Remove(s.path)
	return err
}

// Handler returns the API's HTTP handler, for tests and embedding.
func Handler(b Backend) http.Handler { return handler(b, nil) }

func handler(b Backend, done <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, StatusResponse{Instances: b.Status()})
	})
	mux.HandleFunc("GET /v1/status/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		var names []string
		for _, st := range b.Status() {
			if st.Name == name {
				writeJSON(w, http.StatusOK, st)
				return
			}
			names = append(names, st.Name)
		}
		writeError(w, http.StatusNotFound, fmt.Errorf("%w %q (instances: %v)", ErrNotFound, name, names))
	})
	action := func(do func(string) ([]string, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req ActionRequest
			if r.ContentLength != 0 {
				if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
					writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
					return
				}
			}
			names, err := do(req.Instance)
			switch {
			case errors.Is(err, ErrNotFound):
				writeError(w, http.StatusNotFound, err)
			case err != nil:
				writeError(w, http.StatusInternalServerError, err)
			default:
				writeJSON(w, http.StatusOK, ActionResponse{Instances: names})
			}
		}
	}
	mux.HandleFunc("POST /v1/drain", action(b.Drain))
	mux.HandleFunc("POST /v1/resume", action(b.Resume))
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		res, err := b.Reload()
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		events, cancel := b.Subscribe()
		defer cancel()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
		enc := json.NewEncoder(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case <-done:
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if err := enc.Encode(ev); err != nil {
					return
				}
				if flusher != nil {
					flusher.Flush()
				}
			}
		}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, ErrorResponse{Error: err.Error()})
}
