package main

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestOrderedAcrossTwoNodesOnPostgres (issue 22, done-when 1 on many nodes): two `serve` processes
// on one PostgreSQL database share an ordered subscription whose receiver fails about 30% of
// attempts; 1,000 updates across 10 entities are published through the two nodes in turn. Every
// update arrives, and per entity the receiver sees them in publish order with their sequence
// numbers, whichever node claimed each: a claim never hands out a later delivery of an entity
// while an earlier one is pending or in flight on either node.
func TestOrderedAcrossTwoNodesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two servers as subprocesses")
	}
	t.Parallel()
	bin := buildBinary(t)
	db := pgtest.NewDatabase(t)
	rc := newOrderedRecorder(t)
	var nodes []*serverProcess
	for i := range 2 {
		nodes = append(nodes, startServer(t, bin, freeAddr(t), t.TempDir(), "--database", db, "--node-id", fmt.Sprintf("node-%d", i)))
	}
	defer func() {
		for _, n := range nodes {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			_ = n.cmd.Wait()
		}
	}()
	base := func(i int) string { return "http://" + nodes[i%2].addr }
	must := func(_ int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	accountID, token := newPublisher(t, "ordered", base(0), base(1), base(0))
	schedule := make([]string, 12)
	for i := range schedule {
		schedule[i] = "20ms"
	}
	must(apiCall(base(1), token, "POST", "/v1/subscriptions", map[string]any{
		"account_id": accountID, "format": "standard", "events": []string{"*"}, "url": rc.URL, "ordering": "entity",
		"retry_policy": map[string]any{"schedule": schedule},
	}, nil))

	const entities, perEntity = 10, 100
	var batch []map[string]any
	sent := 0
	for n := range perEntity {
		for e := range entities {
			u := orderedUpdate{E: fmt.Sprintf("c%d", e), N: n}
			batch = append(batch, map[string]any{"account_id": accountID, "type": "client.update",
				"entity": map[string]string{"type": "client", "id": u.E}, "data": u})
			if len(batch) == 50 {
				// Through each node in turn, one batch after the other: the order they are
				// accepted in is the order they were published in.
				must(apiCall(base(sent), token, "POST", "/v1/events/batch", map[string]any{"events": batch}, nil))
				sent++
				batch = nil
			}
		}
	}
	deadline := time.Now().Add(3 * time.Minute) // a guard against a hang, not a measure of speed
	for rc.successes() < entities*perEntity {
		if time.Now().After(deadline) {
			t.Fatalf("within 3 minutes %d of %d updates arrived", rc.successes(), entities*perEntity)
		}
		time.Sleep(10 * time.Millisecond)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	last := map[string]int{}
	for e := range entities {
		last[fmt.Sprintf("c%d", e)] = -1
	}
	for i, r := range rc.log {
		switch prev := last[r.u.E]; {
		case r.u.N == prev: // a failed attempt, sent again
		case r.u.N == prev+1:
			last[r.u.E] = r.u.N
		default:
			t.Fatalf("request %d: update %d of %s after update %d", i, r.u.N, r.u.E, prev)
		}
		if want := strconv.Itoa(r.u.N + 1); r.sequence != want {
			t.Errorf("request %d (update %d of %s): Switchyard-Sequence %q; want %q", i, r.u.N, r.u.E, r.sequence, want)
		}
	}
	t.Logf("two nodes: %d updates arrived in order in %d requests, %d answered 503", len(rc.succeeded), len(rc.log), rc.failed)
}
