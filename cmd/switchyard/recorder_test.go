package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventRecorder is a receiver for the crash tests: it records, per event key (the data.event
// field), the delivery ids each request carried.
type eventRecorder struct {
	*httptest.Server
	mu       sync.Mutex
	received map[string][]string
	requests atomic.Int64
	// active counts requests being handled: deliveries in flight at the receiver.
	active atomic.Int64
}

// newEventRecorder starts a recorder that takes latency() to answer each request, so deliveries
// are in flight when a kill comes.
func newEventRecorder(t *testing.T, latency func() time.Duration) *eventRecorder {
	rec := &eventRecorder{received: map[string][]string{}}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct{ Event string } `json:"data"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		rec.requests.Add(1)
		rec.active.Add(1)
		defer rec.active.Add(-1)
		time.Sleep(latency())
		rec.mu.Lock()
		rec.received[body.Data.Event] = append(rec.received[body.Data.Event], r.Header.Get("webhook-id"))
		rec.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// waitForAll waits until every accepted event key has arrived at least once.
func (rec *eventRecorder) waitForAll(t *testing.T, accepted *sync.Map, timeout time.Duration, serverLog func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		rec.mu.Lock()
		accepted.Range(func(k, _ any) bool {
			if len(rec.received[k.(string)]) == 0 {
				missing++
			}
			return true
		})
		rec.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d accepted events never arrived\nserver log:\n%s", missing, serverLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkDuplicates fails the test for an event that arrived without being accepted, or twice with
// different delivery ids, and returns how many duplicates arrived.
func (rec *eventRecorder) checkDuplicates(t *testing.T, accepted *sync.Map) int {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	duplicates := 0
	for key, ids := range rec.received {
		if _, ok := accepted.Load(key); !ok {
			t.Errorf("event %s arrived but was never accepted", key)
		}
		for _, id := range ids[1:] {
			duplicates++
			if id != ids[0] {
				t.Errorf("event %s arrived with delivery ids %v: duplicates must share one", key, ids)
			}
		}
	}
	return duplicates
}
