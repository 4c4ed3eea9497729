package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestThreeNodesOnOnePostgres runs three `serve` processes of the built binary on one throwaway
// PostgreSQL database, each with its own data dir. Events published through all three are each
// delivered by exactly one node: no duplicate while no node dies. Then one node is killed with
// SIGKILL under load; publishes it failed are retried through another node with their idempotency
// keys; every accepted event is delivered, and an event that arrives twice (a delivery the dead
// node had in flight, sent again once its lease ended) carries the same delivery id both times.
func TestThreeNodesOnOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three servers as subprocesses")
	}
	t.Parallel()
	bin := buildBinary(t)
	db := pgtest.NewDatabase(t)
	// Short leases, so the dead node's work comes back within the test; a lease still covers the
	// delivery timeout, and running attempts extend theirs.
	flags := []string{"--database", db, "--delivery-timeout", "3s", "--lease", "8s"}
	var nodes []*serverProcess
	for i := range 3 {
		nodes = append(nodes, startServer(t, bin, freeAddr(t), t.TempDir(), append(flags, "--node-id", fmt.Sprintf("node-%d", i))...))
	}
	defer func() {
		for _, n := range nodes[1:] {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			_ = n.cmd.Wait()
		}
	}()
	base := func(i int) string { return "http://" + nodes[i].addr }
	logs := func() string {
		var b strings.Builder
		for i, n := range nodes {
			fmt.Fprintf(&b, "--- node %d\n%s\n", i, n.log)
		}
		return b.String()
	}

	rc := newEventRecorder(t, func() time.Duration { return 10 * time.Millisecond })
	must := func(_ int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	accountID, token := newPublisher(t, "nodes", base(0), base(1), base(2))
	must(apiCall(base(0), token, "POST", "/v1/subscriptions", map[string]any{
		"account_id": accountID, "format": "standard", "events": []string{"*"}, "url": rc.URL,
		"retry_policy": map[string]any{"schedule": []string{"100ms", "200ms", "500ms", "1s", "1s", "1s", "1s", "1s", "1s", "1s"}},
	}, nil))

	var accepted sync.Map
	var acceptedN atomic.Int64
	publish := func(node, i int) error {
		key := fmt.Sprintf("e%05d", i)
		_, err := apiCall(base(node), token, "POST", "/v1/events", map[string]any{
			"account_id": accountID, "type": "client.create", "idempotency_key": key,
			"entity": map[string]string{"type": "client", "id": key}, "data": map[string]string{"event": key},
		}, nil)
		if err == nil {
			if _, dup := accepted.LoadOrStore(key, true); !dup {
				acceptedN.Add(1)
			}
		}
		return err
	}

	// Round one: every node alive; each event through the next node in turn.
	const first = 600
	for i := range first {
		must(0, publish(i%3, i))
	}
	rc.waitForAll(t, &accepted, 60*time.Second, logs)
	if dups := rc.checkDuplicates(t, &accepted); dups != 0 {
		t.Fatalf("with every node alive, %d events arrived twice; each must be delivered by one node", dups)
	}
	sentBefore := rc.requests.Load()

	// Round two: node 0 dies under load.
	const second = 1500
	next := make(chan int, second)
	for i := first; i < first+second; i++ {
		next <- i
	}
	close(next)
	var failed sync.Map
	var wg sync.WaitGroup
	for p := range 6 {
		wg.Go(func() {
			for i := range next {
				if err := publish(p%3, i); err != nil {
					failed.Store(i, true)
				}
			}
		})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for acceptedN.Load() < first+second/3 || rc.requests.Load() < sentBefore+200 {
		if time.Now().After(deadline) {
			nodes[0].kill(t)
			wg.Wait()
			t.Fatalf("within 2 minutes %d events were accepted; the kill waits for %d\n%s", acceptedN.Load(), first+second/3, logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	nodes[0].kill(t)
	inFlightAtKill := rc.active.Load()
	wg.Wait()
	retried := 0
	failed.Range(func(k, _ any) bool {
		retried++
		if err := publish(1+retried%2, k.(int)); err != nil {
			t.Errorf("publish through a live node after the kill: %v", err)
		}
		return true
	})
	rc.waitForAll(t, &accepted, 120*time.Second, logs)
	duplicates := rc.checkDuplicates(t, &accepted)
	if n := acceptedN.Load(); n != first+second {
		t.Errorf("accepted %d of %d events", n, first+second)
	}
	t.Logf("three nodes: %d events, no duplicate while all lived; after node 0's SIGKILL (%d deliveries in flight at the receiver, %d publishes retried through the others) every accepted event arrived, %d of them twice with the same delivery id",
		acceptedN.Load(), inFlightAtKill, retried, duplicates)
}
