package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/metrics"
	"github.com/switchyard/switchyard/runtime"
)

type queue struct {
	counts engine.DeliveryCounts
	err    error
}

func (q queue) CountDeliveries(context.Context, time.Time) (engine.DeliveryCounts, error) {
	return q.counts, q.err
}

// TestPluginFailureReasons: each kind of plugin failure is counted under its own reason, and a
// reason the list does not know becomes "other", so a new trap reason cannot add label values.
func TestPluginFailureReasons(t *testing.T) {
	m := metrics.New(queue{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range []error{
		nil,
		&runtime.TrapError{Reason: runtime.ReasonTimeout},
		fmt.Errorf("wrapped: %w", &runtime.TrapError{Reason: runtime.ReasonOutOfMemory}),
		&runtime.TrapError{Reason: "something new"},
		&runtime.PluginError{Message: "refused"},
		errors.New("plugin closed"),
	} {
		m.PluginCall("standard", "shape", time.Millisecond, err)
	}
	m.PluginCall("standard", "not-an-export", time.Millisecond, nil)
	want := `
# HELP switchyard_plugin_call_failures_total Plugin calls that failed, by plugin, export and reason: error (the plugin refused), a trap's reason (timeout, out_of_memory, panic, trap, output_too_large, bad_output, exit), or other.
# TYPE switchyard_plugin_call_failures_total counter
switchyard_plugin_call_failures_total{export="shape",plugin="standard",reason="error"} 1
switchyard_plugin_call_failures_total{export="shape",plugin="standard",reason="other"} 2
switchyard_plugin_call_failures_total{export="shape",plugin="standard",reason="out_of_memory"} 1
switchyard_plugin_call_failures_total{export="shape",plugin="standard",reason="timeout"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "switchyard_plugin_call_failures_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "switchyard_plugin_call_duration_seconds"); n != 2 {
		t.Errorf("%d duration series; want 2 (shape, and other for the unknown export)", n)
	}
}

// TestQueueGaugeOnScrape: the gauge is what the store counts at scrape time; when the store
// fails, that gauge is left out and logged, and every other metric is still served.
func TestQueueGaugeOnScrape(t *testing.T) {
	q := &queue{counts: engine.DeliveryCounts{Due: 7, Scheduled: 3, InFlight: 2}}
	var logs bytes.Buffer
	m := metrics.New(q, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	want := `
# HELP switchyard_deliveries Deliveries not yet ended, by state: due (pending, due now: the backlog), scheduled (pending, due later), in_flight (being attempted). Read from the store on each scrape.
# TYPE switchyard_deliveries gauge
switchyard_deliveries{state="due"} 7
switchyard_deliveries{state="in_flight"} 2
switchyard_deliveries{state="scheduled"} 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "switchyard_deliveries"); err != nil {
		t.Error(err)
	}

	q.err = errors.New("database is locked")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || strings.Contains(body, "switchyard_deliveries{") || !strings.Contains(body, "switchyard_rate_limited_total") {
		t.Errorf("scrape with the store failing: %d, queue gauge there: %v, other metrics there: %v",
			rec.Code, strings.Contains(body, "switchyard_deliveries{"), strings.Contains(body, "switchyard_rate_limited_total"))
	}
	if !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("the store's error was not logged: %q", logs.String())
	}
}
