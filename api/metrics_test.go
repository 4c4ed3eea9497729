package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// scrape is one parsed /metrics page.
type scrape map[string]*dto.MetricFamily

func parseMetrics(t *testing.T, body []byte) scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return families
}

// find returns the series of family name whose labels include labels, or nil.
func (s scrape) find(name string, labels map[string]string) *dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's count; 0 for a series not there.
func (s scrape) value(name string, labels map[string]string) float64 {
	m := s.find(name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// TestMetricsAfterRealDeliveries delivers through a real node to real receivers (one answers 200,
// one 500, one 410 Gone), scrapes /metrics with the admin token, parses it with Prometheus's own
// text parser, and checks that every counter and histogram moved by exactly the attempts made:
//
//   - 3 events to the 200 receiver: 3 attempts "success", 3 deliveries succeeded;
//   - the same 3 events to the 500 receiver, with one retry each: 6 attempts "retry", 3 dead;
//   - 1 event to the 410 receiver: 1 attempt "disable", 1 delivery failed, 1 subscription disabled;
//   - 10 attempts, so 10 calls of the standard plugin's shape;
//   - 5 publish requests, each committed alone: 5 commits of 5 events;
//   - 1 event due in an hour: the one delivery the queue gauge counts, as scheduled.
//
// Attempts are counted before their outcome is written, so once the API shows every delivery
// ended, the counters are final: nothing here waits on time.
func TestMetricsAfterRealDeliveries(t *testing.T) {
	t.Parallel()
	// Every shape is counted below, one per attempt. A call that waits longer than AcquireWait for
	// an instance is paced instead (a shape failure and no attempt): on a slow machine under the
	// race detector the first instances took about a second to start, and the deliveries beyond
	// the pool's size were paced.
	n := nodetest.Start(t, nodetest.Options{Configure: func(cfg *node.Config) { cfg.Runtime.AcquireWait = time.Minute }})
	ok, failing, gone := nodetest.NewReceiver(t), nodetest.NewReceiver(t), nodetest.NewReceiver(t)
	failing.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) {
		return http.StatusInternalServerError, nil, ""
	})
	gone.SetRespond(func(int, *nodetest.Request) (int, http.Header, string) { return http.StatusGone, nil, "" })

	// Before anything happened, the counters that exist from the start read zero.
	before := parseMetrics(t, n.Admin.MustDo("GET", "/metrics", nil, http.StatusOK, nil).Body)
	for _, name := range []string{"switchyard_ingest_commit_failures_total", "switchyard_rate_limited_total", "switchyard_subscriptions_disabled_total"} {
		if before[name] == nil || before.value(name, nil) != 0 {
			t.Errorf("%s before any work: %v; want a zero series", name, before[name])
		}
	}

	tn := n.NewTenant("metrics", "")
	subscribe(t, tn, ok.URL, nil)
	subscribe(t, tn, failing.URL, map[string]any{"retry_policy": map[string]any{"schedule": []string{"0s"}}})
	for i := range 3 {
		publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": string(rune('a' + i))}})
	}
	other := n.NewTenant("gone", "")
	subscribe(t, other, gone.URL, nil)
	publish(t, other, nil)
	later := n.NewTenant("later", "")
	subscribe(t, later, ok.URL, nil)
	publish(t, later, map[string]any{"deliver_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})

	waitForCount(t, tn, "succeeded", 3)
	waitForCount(t, tn, "dead", 3)
	waitForCount(t, other, "failed", 1)
	if got := len(failing.Requests()); got != 6 {
		t.Fatalf("the failing receiver got %d requests; want 6", got)
	}

	// The operator's token only: an app's credential is refused, and so is no credential.
	if r := n.Client("").Do("GET", "/metrics", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d; want 401", r.Status)
	}
	if r := tn.App.Do("GET", "/metrics", nil); r.Status != http.StatusForbidden {
		t.Errorf("/metrics with an app's token: %d; want 403", r.Status)
	}
	resp := n.Admin.MustDo("GET", "/metrics", nil, http.StatusOK, nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q; want Prometheus text 0.0.4", ct)
	}
	s := parseMetrics(t, resp.Body)

	type series struct {
		name   string
		labels map[string]string
		want   float64
	}
	std := func(kv ...string) map[string]string {
		l := map[string]string{"format": "standard"}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	for _, c := range []series{
		{"switchyard_attempts_total", std("outcome", "success"), 3},
		{"switchyard_attempts_total", std("outcome", "retry"), 6},
		{"switchyard_attempts_total", std("outcome", "disable"), 1},
		{"switchyard_attempts_total", std("outcome", "give_up"), 0},
		{"switchyard_attempt_duration_seconds", std("outcome", "success"), 3},
		{"switchyard_attempt_duration_seconds", std("outcome", "retry"), 6},
		{"switchyard_attempt_duration_seconds", std("outcome", "disable"), 1},
		{"switchyard_deliveries_total", std("outcome", "succeeded"), 3},
		{"switchyard_deliveries_total", std("outcome", "dead"), 3},
		{"switchyard_deliveries_total", std("outcome", "failed"), 1},
		{"switchyard_subscriptions_disabled_total", map[string]string{"reason": "receiver"}, 1},
		{"switchyard_subscriptions_disabled_total", map[string]string{"reason": "failing"}, 0},
		{"switchyard_plugin_call_duration_seconds", map[string]string{"plugin": "standard", "export": "shape"}, 10},
		{"switchyard_plugin_call_failures_total", map[string]string{"plugin": "standard"}, 0},
		// The 5 published events, and the engine's own reports of the 3 dead deliveries and the
		// disabled subscription (operational events, published into the system account).
		{"switchyard_ingested_events_total", nil, 5 + 4},
		{"switchyard_ingest_commit_failures_total", nil, 0},
		{"switchyard_rate_limited_total", map[string]string{"limit": "credential"}, 0},
		{"switchyard_deliveries_paced_total", std(), 0},
		{"switchyard_deliveries", map[string]string{"state": "due"}, 0},
		{"switchyard_deliveries", map[string]string{"state": "scheduled"}, 1},
		{"switchyard_deliveries", map[string]string{"state": "in_flight"}, 0},
	} {
		if got := s.value(c.name, c.labels); got != c.want {
			t.Errorf("%s %v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	// One commit per publish, and one or more for the reports, which the engine may group.
	if got := s.value("switchyard_ingest_commit_duration_seconds", nil); got < 5+1 || got > 5+4 {
		t.Errorf("switchyard_ingest_commit_duration_seconds = %v; want 5 commits of the publishes and 1 to 4 of the reports", got)
	}
	// Every attempt's time is in the histogram's sum, and within its buckets.
	if h := s.find("switchyard_attempt_duration_seconds", std("outcome", "success")); h == nil || h.Histogram.GetSampleSum() <= 0 {
		t.Errorf("attempt duration histogram of successes: %v; want a positive sum", h)
	}
	// No label carries an ID or a tenant: every value is from a short fixed list or a plugin name.
	for name, f := range s {
		if !strings.HasPrefix(name, "switchyard_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "format", "plugin", "outcome", "state", "reason", "limit", "export", "le":
				default:
					t.Errorf("%s has label %s=%s", name, l.GetName(), l.GetValue())
				}
				for _, id := range []string{tn.AccountID, tn.AppID, other.AccountID, "sub_", "dlv_", "evt_"} {
					if strings.Contains(l.GetValue(), id) {
						t.Errorf("%s label %s=%s names an ID", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	if s["go_goroutines"] == nil || s["process_resident_memory_bytes"] == nil {
		t.Error("the Go runtime's and the process's metrics are missing")
	}
	documentedAndCharted(t, s)
}

// documentedAndCharted checks that the README's Metrics table and the served families agree, and
// that every metric the example Grafana dashboard queries is one of them. Two families appear only
// once their first event happens (their labels are not known before): nothing in this test paces a
// delivery or fails a plugin call.
func documentedAndCharted(t *testing.T, s scrape) {
	t.Helper()
	root := runtimetest.RepoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(switchyard_[a-z_]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = true
	}
	for name := range s {
		if strings.HasPrefix(name, "switchyard_") && !documented[name] {
			t.Errorf("README's Metrics table does not list %s", name)
		}
	}
	onFirstEvent := map[string]bool{"switchyard_deliveries_paced_total": true, "switchyard_plugin_call_failures_total": true}
	for name := range documented {
		if s[name] == nil && !onFirstEvent[name] {
			t.Errorf("README lists %s, which is not served", name)
		}
	}
	dashboard, err := os.ReadFile(filepath.Join(root, "examples", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal(dashboard, &parsed); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	used := regexp.MustCompile(`\b(?:switchyard|go|process)_[a-z_]+`).FindAllString(string(dashboard), -1)
	if len(used) == 0 {
		t.Fatal("the dashboard queries no metric")
	}
	for _, name := range used {
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if s[family] == nil && !documented[family] {
			t.Errorf("the dashboard queries %s, which is neither served nor documented", name)
		}
	}
}

// TestMetricsApart serves metrics on their own address: there without a token, and not at all on
// the API's address. A node whose rate limit is spent still answers the scraper, and counts the
// refusal: 2 admin requests pass (the burst), the third gets 429, and the counter reads 1.
func TestMetricsApart(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.RateLimit, c.RateBurst = 0.0001, 2 // one token in almost 3 hours: none come back during the test
	}})
	if n.MetricsAddr() == "" {
		t.Fatal("no metrics address")
	}
	n.Admin.MustDo("GET", "/v1/accounts", nil, http.StatusOK, nil)
	n.Admin.MustDo("GET", "/v1/accounts", nil, http.StatusOK, nil)
	n.Admin.MustDo("GET", "/v1/accounts", nil, http.StatusTooManyRequests, nil)
	// Not on the API's address: 404 before authentication, so no token is spent or needed.
	if r := n.Client("").Do("GET", "/metrics", nil); r.Status != http.StatusNotFound {
		t.Errorf("/metrics on the API's address: %d; want 404", r.Status)
	}
	resp, err := http.Get("http://" + n.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape the metrics address: %d, %v", resp.StatusCode, err)
	}
	s := parseMetrics(t, body)
	if got := s.value("switchyard_rate_limited_total", map[string]string{"limit": "credential"}); got != 1 {
		t.Errorf("switchyard_rate_limited_total = %v; want 1", got)
	}
	if s["switchyard_deliveries"] == nil {
		t.Error("the queue gauge is missing")
	}
}
