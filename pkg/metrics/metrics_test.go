package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/failover-ha/failover/pkg/control"
	"github.com/failover-ha/failover/pkg/instance"
)

func TestScrape(t *testing.T) {
	status := func() []control.InstanceStatus {
		return []control.InstanceStatus{{
			Name: "web", State: "MASTER", Priority: 150, ConfiguredPriority: 200, Drained: true,
			Counters: instance.Counters{Transitions: 3, AdvertsSent: 42, AdvertsReceived: 7, Announcements: 4,
				Drops: map[instance.DropReason]uint64{"checksum": 2, "ttl": 0}},
			Tracks: []control.TrackStatus{{Name: "nginx", Kind: "script", OK: false}},
		}}
	}
	s, err := Listen("127.0.0.1:0", status)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close()
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`failover_instance_state{instance="web",state="MASTER"} 1`,
		`failover_instance_state{instance="web",state="BACKUP"} 0`,
		`failover_instance_state{instance="web",state="FAULT"} 0`,
		`failover_instance_priority{instance="web"} 150`,
		`failover_instance_configured_priority{instance="web"} 200`,
		`failover_instance_drained{instance="web"} 1`,
		`failover_transitions_total{instance="web"} 3`,
		`failover_adverts_sent_total{instance="web"} 42`,
		`failover_adverts_received_total{instance="web"} 7`,
		`failover_adverts_dropped_total{instance="web",reason="checksum"} 2`,
		`failover_adverts_dropped_total{instance="web",reason="ttl"} 0`,
		`failover_announcements_total{instance="web"} 4`,
		`failover_track_up{instance="web",kind="script",track="nginx"} 0`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

func TestListenError(t *testing.T) {
	if _, err := Listen("192.0.2.1:1", func() []control.InstanceStatus { return nil }); err == nil || !strings.Contains(err.Error(), "metrics_listen 192.0.2.1:1") {
		t.Errorf("listening on an address we do not have: %v", err)
	}
}
