package api_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// update is what the ordering tests publish: the n-th update of entity e.
type update struct {
	E string `json:"e"`
	N int    `json:"n"`
}

func updateOf(t *testing.T, r *nodetest.Request) update {
	t.Helper()
	var body struct{ Data update }
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("request body %s: %v", r.Body, err)
	}
	return body.Data
}

// publishUpdates publishes perEntity updates of each of entities, interleaved, in batches of
// batch: the n-th update of every entity is accepted before any entity's n+1-th.
func publishUpdates(t *testing.T, tn *nodetest.Tenant, entities []string, perEntity, batch int) {
	t.Helper()
	var events []map[string]any
	flush := func() {
		if len(events) > 0 {
			tn.App.MustDo("POST", "/v1/events/batch", map[string]any{"events": events}, http.StatusAccepted, nil)
			events = nil
		}
	}
	for n := range perEntity {
		for _, e := range entities {
			events = append(events, map[string]any{"account_id": tn.AccountID, "type": "client.update",
				"entity": map[string]string{"type": "client", "id": e}, "data": update{E: e, N: n}})
			if len(events) == batch {
				flush()
			}
		}
	}
	flush()
}

// fails decides, the same way on every run whatever order requests arrive in, whether the
// receiver fails this attempt at an update: about 30% of attempts, never more than 5 in a row
// for one update (so none runs out of its 12 attempts).
func fails(u update, attempt int) bool {
	if attempt > 5 {
		return false
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "seed-22/%s/%d/%d", u.E, u.N, attempt))
	return binary.BigEndian.Uint32(sum[:4])%100 < 30
}

// TestOrderedDeliveryUnderRandomFailures (issue 22, done-when 1 and 2): 1,000 updates across 10
// entities go to a subscription ordered by entity whose receiver fails about 30% of attempts, and
// to an unordered subscription beside it whose receiver takes everything. Every update arrives;
// per entity the ordered receiver sees them in publish order, every attempt (failed ones too), and
// each carries its place in the Switchyard-Sequence header. The unordered receiver gets all 1,000,
// without the header.
func TestOrderedDeliveryUnderRandomFailures(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	orc, plain := nodetest.NewReceiver(t), nodetest.NewReceiver(t)
	tn := node.NewTenant("ordered", "")
	schedule := make([]string, 12)
	for i := range schedule {
		schedule[i] = "10ms"
	}
	sub := subscribe(t, tn, orc.URL, map[string]any{"ordering": "entity", "retry_policy": map[string]any{"schedule": schedule}})
	subscribe(t, tn, plain.URL, nil)

	var (
		mu        sync.Mutex
		attempts  = map[update]int{}
		succeeded = map[update]bool{}
		failed    int
		done      = make(chan struct{})
	)
	const entities, perEntity = 10, 100
	orc.SetRespond(func(_ int, r *nodetest.Request) (int, http.Header, string) {
		var body struct{ Data update }
		if json.Unmarshal(r.Body, &body) != nil {
			return http.StatusBadRequest, nil, ""
		}
		u := body.Data
		mu.Lock()
		defer mu.Unlock()
		attempts[u]++
		if fails(u, attempts[u]) {
			failed++
			return http.StatusServiceUnavailable, nil, ""
		}
		if !succeeded[u] {
			succeeded[u] = true
			if len(succeeded) == entities*perEntity {
				close(done)
			}
		}
		return http.StatusNoContent, nil, ""
	})

	names := make([]string, entities)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	publishUpdates(t, tn, names, perEntity, 100)
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a guard against a hang, not a measure of speed
		mu.Lock()
		t.Fatalf("%d of %d updates arrived", len(succeeded), entities*perEntity)
	}

	reqs := orc.Requests()
	next := map[string]int{} // per entity, the update it must see now: the last one, or the next
	for i, r := range reqs {
		u := updateOf(t, r)
		switch u.N {
		case next[u.E]: // a retry of the current update
		case next[u.E] + 1:
			next[u.E] = u.N
		default:
			t.Fatalf("request %d: update %d of %s after update %d", i, u.N, u.E, next[u.E])
		}
		if got, want := r.Header.Get(engine.SequenceHeader), strconv.Itoa(u.N+1); got != want {
			t.Errorf("request %d (update %d of %s): %s %q; want %q", i, u.N, u.E, engine.SequenceHeader, got, want)
		}
	}
	mu.Lock()
	t.Logf("%d updates, %d requests, %d of them failed (%.0f%%)", len(succeeded), len(reqs), failed, 100*float64(failed)/float64(len(reqs)))
	if failed*100 < len(reqs)*20 {
		t.Errorf("only %d of %d requests failed; the test means to fail about 30%%", failed, len(reqs))
	}
	mu.Unlock()

	got := plain.WaitFor(t, entities*perEntity, time.Minute)
	seen := map[update]bool{}
	for _, r := range got {
		seen[updateOf(t, r)] = true
		if h := r.Header.Get(engine.SequenceHeader); h != "" {
			t.Fatalf("the unordered subscription's request carries %s: %s", engine.SequenceHeader, h)
		}
	}
	if len(seen) != entities*perEntity {
		t.Errorf("the unordered receiver got %d distinct updates; want %d", len(seen), entities*perEntity)
	}
	var s struct {
		Ordering string       `json:"ordering"`
		Held     *engine.Held `json:"held"`
	}
	tn.App.MustDo("GET", "/v1/subscriptions/"+sub.ID, nil, http.StatusOK, &s)
	if s.Ordering != "entity" || s.Held == nil || s.Held.Deliveries != 0 {
		t.Errorf("the ordered subscription after it all: ordering %q, held %+v; want entity, 0 held", s.Ordering, s.Held)
	}
}

// TestOrderedEntityHeldAlone (issue 22, done-when 2, and on_dead block): one entity's receiver
// fails every attempt; the other entity of the same ordered subscription goes on meanwhile. The
// failing one's first update goes dead and, under on_dead block, holds the rest: the subscription
// shows them held behind it. An operator skips it, the next one is tried (and dies too), is
// retried once the receiver works, and the rest follow in order.
func TestOrderedEntityHeldAlone(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("held", "")
	for field, value := range map[string]string{"ordering": "sometimes", "on_dead": "retry"} {
		r := tn.App.Do("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "standard",
			"events": []string{"client.*"}, "url": rc.URL, field: value})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), field) {
			t.Errorf("%s %q: %d %s; want 422 naming the field", field, value, r.Status, r.Body)
		}
	}
	sub := subscribe(t, tn, rc.URL, map[string]any{"ordering": "entity", "on_dead": "block",
		"retry_policy": map[string]any{"schedule": []string{"10ms", "10ms"}}})
	var (
		mu     sync.Mutex
		broken = true
	)
	rc.SetRespond(func(_ int, r *nodetest.Request) (int, http.Header, string) {
		mu.Lock()
		defer mu.Unlock()
		var body struct{ Data update }
		if json.Unmarshal(r.Body, &body) == nil && body.Data.E == "stuck" && broken {
			return http.StatusServiceUnavailable, nil, ""
		}
		return http.StatusNoContent, nil, ""
	})
	publishUpdates(t, tn, []string{"stuck"}, 3, 10)
	publishUpdates(t, tn, []string{"free"}, 20, 10)

	// All of free's updates arrive while stuck's first fails, then dies.
	waitForCount(t, tn, "dead", 1)
	waitForCount(t, tn, "succeeded", 20)
	seen := func(e string) []int {
		var ns []int
		for _, r := range rc.Requests() {
			if u := updateOf(t, r); u.E == e {
				ns = append(ns, u.N)
			}
		}
		return ns
	}
	if got := seen("stuck"); fmt.Sprint(got) != "[0 0 0]" {
		t.Fatalf("stuck's receiver saw updates %v; want its first, three times", got)
	}
	if got := seen("free"); len(got) != 20 {
		t.Fatalf("free's receiver saw %d updates; want 20", len(got))
	}

	held := heldOf(t, tn, sub.ID)
	var dead listOf[struct {
		ID       string `json:"id"`
		Sequence int64  `json:"sequence"`
	}]
	tn.App.MustDo("GET", "/v1/deliveries?status=dead", nil, http.StatusOK, &dead)
	if held.Deliveries != 2 || len(held.Behind) != 1 || held.Behind[0].DeliveryID != dead.Data[0].ID ||
		held.Behind[0].State != engine.DeliveryDead || held.Behind[0].Held != 2 || held.Behind[0].OrderingKey != "client:stuck" {
		t.Fatalf("held: %+v; want 2 behind the dead %s", held, dead.Data[0].ID)
	}

	// Skipped, it releases the next, which fails and dies in its turn.
	var skipped delivery
	tn.App.MustDo("POST", "/v1/deliveries/"+dead.Data[0].ID+"/skip", nil, http.StatusOK, &skipped)
	if skipped.State != "skipped" {
		t.Errorf("skipped delivery is %s; want skipped", skipped.State)
	}
	var listed listOf[delivery]
	tn.App.MustDo("GET", "/v1/deliveries?status=skipped", nil, http.StatusOK, &listed)
	if len(listed.Data) != 1 || listed.Data[0].ID != dead.Data[0].ID {
		t.Errorf("GET /v1/deliveries?status=skipped: %+v; want the skipped one alone", listed.Data)
	}
	if r := tn.App.Do("POST", "/v1/deliveries/"+dead.Data[0].ID+"/skip", nil); r.Status != http.StatusConflict {
		t.Errorf("skipping it again: %d %s; want 409", r.Status, r.Body)
	}
	waitForCount(t, tn, "dead", 1)
	if got := seen("stuck"); fmt.Sprint(got) != "[0 0 0 1 1 1]" {
		t.Fatalf("stuck's receiver saw updates %v; want the first and then the second, three times each", got)
	}
	tn.App.MustDo("GET", "/v1/deliveries?status=dead", nil, http.StatusOK, &dead)
	if held := heldOf(t, tn, sub.ID); held.Deliveries != 1 || held.Behind[0].DeliveryID != dead.Data[0].ID {
		t.Fatalf("held after the skip: %+v; want 1 behind %s", held, dead.Data[0].ID)
	}

	// The receiver mended, the operator retries it: it goes, and then the last.
	mu.Lock()
	broken = false
	mu.Unlock()
	tn.App.MustDo("POST", "/v1/deliveries/"+dead.Data[0].ID+"/retry", nil, http.StatusAccepted, nil)
	waitForCount(t, tn, "succeeded", 22)
	if got := seen("stuck"); fmt.Sprint(got) != "[0 0 0 1 1 1 1 2]" {
		t.Errorf("stuck's receiver saw updates %v; want the second retried, then the third", got)
	}
	if held := heldOf(t, tn, sub.ID); held.Deliveries != 0 {
		t.Errorf("held at the end: %+v", held)
	}
}

func heldOf(t *testing.T, tn *nodetest.Tenant, subID string) *engine.Held {
	t.Helper()
	var s struct {
		Held *engine.Held `json:"held"`
	}
	tn.App.MustDo("GET", "/v1/subscriptions/"+subID, nil, http.StatusOK, &s)
	if s.Held == nil {
		t.Fatalf("GET /v1/subscriptions/%s shows no held", subID)
	}
	return s.Held
}
