// Package metrics exposes failoverd's state to Prometheus. It is off unless
// metrics_listen is set. Values are read from the same status snapshots as
// failoverctl at scrape time, so the two never disagree and nothing is
// counted twice.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/failover-ha/failover/pkg/control"
)

// States are the values of the state label, always all exported so a
// dashboard sees 0 for the states an instance is not in.
var States = []string{"INIT", "BACKUP", "MASTER", "FAULT"}

var (
	descState       = prometheus.NewDesc("failover_instance_state", "1 for the instance's current state, 0 for the others.", []string{"instance", "state"}, nil)
	descPriority    = prometheus.NewDesc("failover_instance_priority", "Effective priority (after tracking weights).", []string{"instance"}, nil)
	descConfigured  = prometheus.NewDesc("failover_instance_configured_priority", "Priority from the configuration.", []string{"instance"}, nil)
	descDrained     = prometheus.NewDesc("failover_instance_drained", "1 while drained (failoverctl drain or held by its sync group).", []string{"instance"}, nil)
	descTransitions = prometheus.NewDesc("failover_transitions_total", "State changes.", []string{"instance"}, nil)
	descSent        = prometheus.NewDesc("failover_adverts_sent_total", "VRRP adverts sent.", []string{"instance"}, nil)
	descReceived    = prometheus.NewDesc("failover_adverts_received_total", "VRRP adverts accepted.", []string{"instance"}, nil)
	descDropped     = prometheus.NewDesc("failover_adverts_dropped_total", "VRRP adverts dropped, by reason.", []string{"instance", "reason"}, nil)
	descAnnounce    = prometheus.NewDesc("failover_announcements_total", "Gratuitous ARP / unsolicited NA rounds sent.", []string{"instance"}, nil)
	descTrack       = prometheus.NewDesc("failover_track_up", "1 while a tracked check or interface is healthy.", []string{"instance", "track", "kind"}, nil)
)

// Collector reads instance status at every scrape.
type Collector struct {
	Status func() []control.InstanceStatus
}

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descPriority, descConfigured, descDrained, descTransitions,
		descSent, descReceived, descDropped, descAnnounce, descTrack} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.Status() {
		for _, s := range States {
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, b2f(st.State == s), st.Name, s)
		}
		ch <- prometheus.MustNewConstMetric(descPriority, prometheus.GaugeValue, float64(st.Priority), st.Name)
		ch <- prometheus.MustNewConstMetric(descConfigured, prometheus.GaugeValue, float64(st.ConfiguredPriority), st.Name)
		ch <- prometheus.MustNewConstMetric(descDrained, prometheus.GaugeValue, b2f(st.Drained), st.Name)
		k := st.Counters
		ch <- prometheus.MustNewConstMetric(descTransitions, prometheus.CounterValue, float64(k.Transitions), st.Name)
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(k.AdvertsSent), st.Name)
		ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(k.AdvertsReceived), st.Name)
		ch <- prometheus.MustNewConstMetric(descAnnounce, prometheus.CounterValue, float64(k.Announcements), st.Name)
		for reason, n := range k.Drops {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), st.Name, string(reason))
		}
		for _, tr := range st.Tracks {
			ch <- prometheus.MustNewConstMetric(descTrack, prometheus.GaugeValue, b2f(tr.OK), st.Name, tr.Name, tr.Kind)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Server serves /metrics.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen opens the metrics endpoint at addr with the failover collector and
// Go's process and runtime metrics.
func Listen(addr string, status func() []control.InstanceStatus) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector{Status: status}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// Addr is where the endpoint listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers scrapes until Close.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the endpoint.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
