package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeBackend records calls and serves canned status.
type fakeBackend struct {
	drained []string
	reload  error
	events  chan Transition
}

func (f *fakeBackend) Status() []InstanceStatus {
	return []InstanceStatus{{Name: "web", State: "MASTER", VIPs: []string{"192.0.2.100/24"}}, {Name: "db", State: "BACKUP"}}
}

func (f *fakeBackend) Drain(name string) ([]string, error) {
	if name == "nope" {
		return nil, ErrNotFound
	}
	f.drained = append(f.drained, name)
	return []string{"web"}, nil
}

func (f *fakeBackend) Resume(name string) ([]string, error) { return []string{"web", "db"}, nil }

func (f *fakeBackend) Reload() (ReloadResponse, error) {
	return ReloadResponse{Changed: []string{"web"}}, f.reload
}

func (f *fakeBackend) Subscribe() (<-chan Transition, func()) { return f.events, func() {} }

func serve(t *testing.T, b Backend) (*Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "failoverd.sock")
	s, err := Listen(path, "", b)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return NewClient(path), path
}

func TestAPI(t *testing.T) {
	b := &fakeBackend{events: make(chan Transition, 1)}
	c, path := serve(t, b)
	ctx := context.Background()

	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v %v, want 0660", fi.Mode(), err)
	}
	all, err := c.Status(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "web" {
		t.Fatalf("status %+v %v", all, err)
	}
	one, err := c.StatusOf(ctx, "db")
	if err != nil || one.State != "BACKUP" {
		t.Errorf("status db %+v %v", one, err)
	}
	if _, err := c.StatusOf(ctx, "nope"); err == nil || !strings.Contains(err.Error(), `no such instance "nope" (instances: [web db])`) {
		t.Errorf("unknown instance: %v", err)
	}
	if names, err := c.Drain(ctx, "web"); err != nil || len(names) != 1 || b.drained[0] != "web" {
		t.Errorf("drain %v %v %v", names, err, b.drained)
	}
	if _, err := c.Drain(ctx, "nope"); !strings.Contains(err.Error(), "no such instance") {
		t.Errorf("drain unknown: %v", err)
	}
	if names, err := c.Resume(ctx, ""); err != nil || len(names) != 2 {
		t.Errorf("resume all %v %v", names, err)
	}
	if r, err := c.Reload(ctx); err != nil || r.Changed[0] != "web" {
		t.Errorf("reload %+v %v", r, err)
	}
	b.reload = errors.New(`failover.toml: instance "web": priority = 300: must be 1-255`)
	if _, err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "priority = 300") {
		t.Errorf("rejected reload: %v", err)
	}

	b.events <- Transition{Instance: "web", From: "BACKUP", To: "MASTER", Reason: "test"}
	ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	got := make(chan Transition, 1)
	go c.Events(ectx, func(tr Transition) { got <- tr })
	select {
	case tr := <-got:
		if tr.Instance != "web" || tr.To != "MASTER" {
			t.Errorf("event %+v", tr)
		}
	case <-ectx.Done():
		t.Fatal("no event")
	}
}

// A second daemon must not steal a live socket; a stale one is replaced.
func TestListenRefusesLiveSocketReplacesStale(t *testing.T) {
	_, path := serve(t, &fakeBackend{})
	if _, err := Listen(path, "", &fakeBackend{}); err == nil || !strings.Contains(err.Error(), "another failoverd is listening") {
		t.Errorf("second listener: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd) // bound, never listened: a stale socket file
	s, err := Listen(stale, "", &fakeBackend{})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
}

func TestUnreachableMessages(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Status(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "no socket at") || !strings.Contains(err.Error(), "is failoverd running?") {
		t.Errorf("missing socket: %v", err)
	}
}

func TestGroupErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.sock")
	if _, err := Listen(path, "no-such-group-xyz", &fakeBackend{}); err == nil || !strings.Contains(err.Error(), `control_socket_group "no-such-group-xyz"`) {
		t.Errorf("unknown group: %v", err)
	}
	s, err := Listen(path, "0", &fakeBackend{})
	if err != nil {
		t.Fatalf("numeric gid: %v", err)
	}
	s.Close()
}
