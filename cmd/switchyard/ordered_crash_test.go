package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// orderedUpdate is the n-th update of entity e.
type orderedUpdate struct {
	E string `json:"e"`
	N int    `json:"n"`
}

// orderedRecorder is a receiver that fails about 30% of attempts (the same ones on every run,
// decided by the update and how many times it has come) and records every request in the order it
// arrived.
type orderedRecorder struct {
	*httptest.Server
	mu        sync.Mutex
	log       []orderedRequest
	attempts  map[orderedUpdate]int
	succeeded map[orderedUpdate]bool
	failed    int
}

type orderedRequest struct {
	u        orderedUpdate
	sequence string
}

func newOrderedRecorder(t *testing.T) *orderedRecorder {
	rec := &orderedRecorder{attempts: map[orderedUpdate]int{}, succeeded: map[orderedUpdate]bool{}}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Data orderedUpdate }
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &body) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		// A little latency keeps deliveries in flight when the kill comes.
		time.Sleep(5 * time.Millisecond)
		u := body.Data
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.log = append(rec.log, orderedRequest{u: u, sequence: r.Header.Get("Switchyard-Sequence")})
		rec.attempts[u]++
		if n := rec.attempts[u]; n <= 5 {
			sum := sha256.Sum256(fmt.Appendf(nil, "seed-22/%s/%d/%d", u.E, u.N, n))
			if binary.BigEndian.Uint32(sum[:4])%100 < 30 {
				rec.failed++
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		rec.succeeded[u] = true
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *orderedRecorder) successes() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.succeeded)
}

// TestOrderedSurvivesSIGKILL (issue 22, done-when 1 with a crash): half of 1,000 updates across 10
// entities are published to an ordered subscription whose receiver fails about 30% of attempts;
// the server is killed with SIGKILL while they are being delivered, restarted on the same data,
// and the other half published. Every update arrives, and per entity the receiver sees them in
// publish order: an update may come again (the one in flight at the kill is sent again, with its
// sequence), but never one after a later one. The Switchyard-Sequence header counts on across the
// restart.
func TestOrderedSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a subprocess")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	rc := newOrderedRecorder(t)

	srv := startServer(t, bin, addr, dataDir)
	must := func(_ int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	accountID, token := newPublisher(t, "ordered", base)
	schedule := make([]string, 12)
	for i := range schedule {
		schedule[i] = "20ms"
	}
	must(apiCall(base, token, "POST", "/v1/subscriptions", map[string]any{
		"account_id": accountID, "format": "standard", "events": []string{"*"}, "url": rc.URL, "ordering": "entity",
		"retry_policy": map[string]any{"schedule": schedule},
	}, nil))

	const entities, perEntity = 10, 100
	// publish sends updates from..to-1 of every entity, interleaved, 50 to a batch, each with an
	// idempotency key, so that a batch whose answer was lost can be sent again harmlessly.
	publish := func(from, to int) {
		var events []map[string]any
		flush := func() {
			if len(events) == 0 {
				return
			}
			if _, err := apiCall(base, token, "POST", "/v1/events/batch", map[string]any{"events": events}, nil); err != nil {
				t.Fatalf("publish: %v", err)
			}
			events = nil
		}
		for n := from; n < to; n++ {
			for e := range entities {
				u := orderedUpdate{E: fmt.Sprintf("c%d", e), N: n}
				events = append(events, map[string]any{"account_id": accountID, "type": "client.update",
					"idempotency_key": fmt.Sprintf("%s-%d", u.E, u.N),
					"entity":          map[string]string{"type": "client", "id": u.E}, "data": u})
				if len(events) == 50 {
					flush()
				}
			}
		}
		flush()
	}
	publish(0, perEntity/2)
	deadline := time.Now().Add(2 * time.Minute) // a guard against a hang, not a measure of speed
	for rc.successes() < 150 {
		if time.Now().After(deadline) {
			srv.kill(t)
			t.Fatalf("within 2 minutes %d updates arrived; the kill waits for 150\n%s", rc.successes(), srv.log)
		}
		time.Sleep(2 * time.Millisecond)
	}
	srv.kill(t)
	atKill := rc.successes()

	srv = startServer(t, bin, addr, dataDir)
	defer func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); _ = srv.cmd.Wait() }()
	publish(perEntity/2, perEntity)
	deadline = time.Now().Add(2 * time.Minute)
	for rc.successes() < entities*perEntity {
		if time.Now().After(deadline) {
			t.Fatalf("within 2 minutes of the restart %d of %d updates arrived\n%s", rc.successes(), entities*perEntity, srv.log)
		}
		time.Sleep(10 * time.Millisecond)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	last := map[string]int{}
	for e := range entities {
		last[fmt.Sprintf("c%d", e)] = -1
	}
	again := 0
	for i, r := range rc.log {
		switch prev := last[r.u.E]; {
		case r.u.N == prev:
			again++
		case r.u.N == prev+1:
			last[r.u.E] = r.u.N
		default:
			t.Fatalf("request %d: update %d of %s after update %d", i, r.u.N, r.u.E, prev)
		}
		if want := strconv.Itoa(r.u.N + 1); r.sequence != want {
			t.Errorf("request %d (update %d of %s): Switchyard-Sequence %q; want %q", i, r.u.N, r.u.E, r.sequence, want)
		}
	}
	t.Logf("%d updates arrived (%d before the kill) in %d requests: %d answered 503, %d repeated the update before",
		len(rc.succeeded), atKill, len(rc.log), rc.failed, again)
}
