package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/failover-ha/failover/pkg/lab"
)

// notifySocket plays systemd's side of sd_notify: it collects datagrams.
type notifySocket struct {
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T, path string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{conn: conn}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

func (n *notifySocket) all() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.msgs, "\n")
}

// httpIn makes HTTP requests from inside h's namespace.
func httpIn(h *lab.Host) *http.Client {
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() (err error) {
				c, err = net.Dial(network, addr)
				return err
			})
			return c, err
		},
	}}
}

// Under systemd (Type=notify) failoverd says READY=1 once running, keeps a
// STATUS= summary current and feeds the watchdog; hooks never see the
// notify socket; the metrics endpoint serves the same state as status.
func TestSystemdNotifyAndMetrics(t *testing.T) {
	c := newCluster(t, 1, 0)
	h1 := c.host("h1")
	sock := listenNotify(t, filepath.Join(c.dir, "notify.sock"))
	envFile := filepath.Join(c.dir, "hook.env")
	hook := filepath.Join(c.dir, "hooks", "env.sh")
	os.MkdirAll(filepath.Dir(hook), 0o755)
	os.Chmod(c.dir, 0o755)
	os.WriteFile(hook, []byte("#!/bin/sh\nenv > "+envFile+"\n"), 0o755)
	body := c.globalTOML(h1) + "metrics_listen = \"127.0.0.1:9650\"\n\n" +
		instanceOpts{priority: 100, extra: fmt.Sprintf("notify_master = %q\n", hook)}.toml()
	c.startConfigEnv(h1, body, "NOTIFY_SOCKET="+filepath.Join(c.dir, "notify.sock"), "WATCHDOG_USEC=400000")
	c.waitFor("READY=1", 3*time.Second, func() bool { return strings.Contains(sock.all(), "READY=1") })
	if !strings.Contains(sock.all(), "STATUS=1 backup") {
		t.Errorf("first status: %q", sock.all())
	}
	c.waitSoleHolder(h1, vip4, 3*time.Second)
	c.waitFor("STATUS=1 master", 2*time.Second, func() bool { return strings.Contains(sock.all(), "STATUS=1 master") })
	time.Sleep(time.Second)
	if n := strings.Count(sock.all(), "WATCHDOG=1"); n < 3 {
		t.Errorf("%d watchdog pings in about a second with WatchdogSec=400ms", n)
	}
	c.waitFor("the master hook", 2*time.Second, func() bool { _, err := os.Stat(envFile); return err == nil })
	env, _ := os.ReadFile(envFile)
	if strings.Contains(string(env), "NOTIFY_SOCKET") || strings.Contains(string(env), "WATCHDOG_USEC") {
		t.Errorf("a hook inherited systemd's notify variables:\n%s", env)
	}
	if !strings.Contains(string(env), "FAILOVER_STATE=MASTER") {
		t.Errorf("hook environment lacks FAILOVER_STATE:\n%s", env)
	}

	resp, err := httpIn(h1).Get("http://127.0.0.1:9650/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`failover_instance_state{instance="web",state="MASTER"} 1`, `failover_instance_priority{instance="web"} 100`, `failover_adverts_sent_total{instance="web"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	c.stop(h1, syscall.SIGTERM)
	if !strings.Contains(sock.all(), "STOPPING=1") {
		t.Errorf("no STOPPING=1 on SIGTERM: %q", sock.all())
	}
}
