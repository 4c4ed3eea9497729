package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestJSONLogs runs the real binary with --log-format json, makes one delivery fail and then die,
// and parses the server's output line by line: every line is one JSON object with time, level and
// msg; the failed attempt is logged at WARN and the dead delivery at ERROR, each naming the
// delivery, subscription, status and error; no line holds the subscription's secret or the
// credential's token.
func TestJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a subprocess")
	}
	t.Parallel()
	bin := buildBinary(t)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer rc.Close()
	addr := freeAddr(t)
	srv := startServer(t, bin, addr, t.TempDir(), "--log-format", "json", "--log-level", "info")
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = srv.cmd.Process.Kill()
			_ = srv.cmd.Wait()
		}
	}
	defer stop()
	base := "http://" + addr

	var sub struct{ ID, Secret string }
	must := func(_ int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	accountID, token := newPublisher(t, "logs", base)
	must(apiCall(base, token, "POST", "/v1/subscriptions", map[string]any{
		"account_id": accountID, "format": "standard", "events": []string{"*"}, "url": rc.URL,
		"retry_policy": map[string]any{"schedule": []string{"100ms"}},
	}, &sub))
	var ev struct{ ID string }
	must(apiCall(base, token, "POST", "/v1/events", map[string]any{"account_id": accountID, "type": "client.create",
		"entity": map[string]string{"type": "client", "id": "1"}, "data": map[string]int{"id": 1}}, &ev))

	// Until the delivery is dead: one failed attempt, one more, no attempts left. The log is read
	// only once the server has exited: its output is written while it runs.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list struct{ Data []struct{ State string } }
		must(apiCall(base, token, "GET", "/v1/deliveries?event_id="+ev.ID, nil, &list))
		if len(list.Data) == 1 && list.Data[0].State == "dead" {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the delivery is not dead within 30 s: %+v\n%s", list.Data, srv.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()

	var warned, dead map[string]any
	sc := bufio.NewScanner(bytes.NewReader(srv.log.Bytes()))
	for sc.Scan() {
		line := sc.Bytes()
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("a line that is not one JSON object: %q: %v", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("a line without %q: %s", k, line)
			}
		}
		for _, secret := range []string{sub.Secret, token, strings.TrimPrefix(sub.Secret, "whsec_")} {
			if secret != "" && bytes.Contains(line, []byte(secret)) {
				t.Errorf("a line holds a secret: %s", line)
			}
		}
		switch {
		case rec["level"] == "WARN" && strings.HasPrefix(rec["msg"].(string), "delivery attempt failed"):
			warned = rec
		case rec["level"] == "ERROR" && strings.HasPrefix(rec["msg"].(string), "delivery dead"):
			dead = rec
		}
	}
	for name, rec := range map[string]map[string]any{"the failed attempt (WARN)": warned, "the dead delivery (ERROR)": dead} {
		if rec == nil {
			t.Errorf("no line for %s:\n%s", name, srv.log)
			continue
		}
		if rec["subscription"] != sub.ID || rec["status"] != float64(http.StatusServiceUnavailable) ||
			!strings.HasPrefix(rec["delivery"].(string), "dlv_") {
			t.Errorf("%s: %v; want its delivery, subscription %s and status 503", name, rec, sub.ID)
		}
	}
}
