package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
)

// Client talks to failoverd over its control socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
	}
	return &Client{socket: path, http: &http.Client{Transport: tr}}
}

// UnreachableError says the daemon could not be reached, and why in terms an
// operator can act on.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	hint := "is failoverd running? Use -socket or $" + SocketEnv + " for another socket"
	switch {
	case errors.Is(e.Err, os.ErrNotExist), errors.Is(e.Err, syscall.ENOENT):
		return fmt.Sprintf("cannot reach failoverd: no socket at %s (%s)", e.Socket, hint)
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach failoverd at %s: connection refused (a stale socket: %s)", e.Socket, hint)
	case errors.Is(e.Err, os.ErrPermission), errors.Is(e.Err, syscall.EACCES):
		return fmt.Sprintf("cannot reach failoverd at %s: permission denied (run as root or as a member of the socket's group, see control_socket_group)", e.Socket)
	}
	return fmt.Sprintf("cannot reach failoverd at %s: %v", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// unreachable wraps a transport error (the socket is missing, refused or
// forbidden) for the operator.
func (c *Client) unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &UnreachableError{Socket: c.socket, Err: err}
}

// send makes one request with body (if not nil) as JSON; the caller closes
// the response body.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://failoverd"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	return resp, nil
}

// do makes one request and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decode(resp, out)
}

func decode(resp *http.Response, out any) error {
	if resp.StatusCode != http.StatusOK {
		var e ErrorResponse
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("failoverd answered %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bad answer from failoverd: %w", err)
	}
	return nil
}

// Status returns every instance.
func (c *Client) Status(ctx context.Context) ([]InstanceStatus, error) {
	var r StatusResponse
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &r)
	return r.Instances, err
}

// StatusOf returns one instance.
func (c *Client) StatusOf(ctx context.Context, name string) (InstanceStatus, error) {
	var r InstanceStatus
	err := c.do(ctx, http.MethodGet, "/v1/status/"+url.PathEscape(name), nil, &r)
	return r, err
}

// Drain drains one instance, or all when name is "".
func (c *Client) Drain(ctx context.Context, name string) ([]string, error) {
	var r ActionResponse
	err := c.do(ctx, http.MethodPost, "/v1/drain", ActionRequest{Instance: name}, &r)
	return r.Instances, err
}

// Resume ends a drain of one instance, or all when name is "".
func (c *Client) Resume(ctx context.Context, name string) ([]string, error) {
	var r ActionResponse
	err := c.do(ctx, http.MethodPost, "/v1/resume", ActionRequest{Instance: name}, &r)
	return r.Instances, err
}

// Reload asks the daemon to re-read its configuration.
func (c *Client) Reload(ctx context.Context) (ReloadResponse, error) {
	var r ReloadResponse
	err := c.do(ctx, http.MethodPost, "/v1/reload", nil, &r)
	return r, err
}

// Events calls fn for every transition until ctx ends or the daemon goes.
func (c *Client) Events(ctx context.Context, fn func(Transition)) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decode(resp, nil)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var t Transition
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return fmt.Errorf("bad event from failoverd: %w", err)
		}
		fn(t)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("failoverd closed the event stream")
}
