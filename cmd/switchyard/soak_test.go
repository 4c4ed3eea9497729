package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashSoak keeps publishing while the server is killed with SIGKILL ten times at random
// moments and restarted; at the end every accepted event has been delivered, and every duplicate
// carries its original delivery id. It runs only under `make soak` (SWITCHYARD_SOAK=1).
func TestCrashSoak(t *testing.T) {
	if os.Getenv("SWITCHYARD_SOAK") == "" {
		t.Skip("the soak runs with make soak")
	}
	const kills = 10
	bin := buildBinary(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr

	rc := newEventRecorder(t, func() time.Duration { return time.Duration(rand.IntN(20)) * time.Millisecond })
	var inFlightAtKills atomic.Int64

	srv := startServer(t, bin, addr, dataDir)
	var acct, app struct{ ID string }
	var cred struct{ Token string }
	for _, step := range []error{
		second(apiCall(base, "crash-admin", "POST", "/v1/accounts", map[string]string{"name": "soak"}, &acct)),
		second(apiCall(base, "crash-admin", "POST", "/v1/apps", map[string]string{"name": "soak"}, &app)),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	if _, err := apiCall(base, "crash-admin", "POST", "/v1/apps/"+app.ID+"/credentials", map[string]any{"kind": "api_key", "account_id": acct.ID, "scopes": []string{"events:publish"}}, &cred); err != nil {
		t.Fatal(err)
	}
	if _, err := apiCall(base, cred.Token, "POST", "/v1/subscriptions", map[string]any{
		"account_id": acct.ID, "format": "standard", "events": []string{"*"}, "url": rc.URL,
		"retry_policy": map[string]any{"schedule": []string{"100ms", "500ms", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"}},
	}, nil); err != nil {
		t.Fatal(err)
	}

	// Publishers run throughout; a publish that fails (the server is down) is retried with the
	// same idempotency key until it is accepted.
	var accepted sync.Map
	var acceptedN, next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("s%06d", next.Add(1))
				for {
					_, err := apiCall(base, cred.Token, "POST", "/v1/events", map[string]any{
						"account_id": acct.ID, "type": "client.update", "idempotency_key": key,
						"entity": map[string]string{"type": "client", "id": key}, "data": map[string]string{"event": key},
					}, nil)
					if err == nil {
						accepted.Store(key, true)
						acceptedN.Add(1)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	for i := range kills {
		time.Sleep(time.Duration(1000+rand.IntN(3000)) * time.Millisecond)
		inFlightAtKills.Add(rc.active.Load())
		srv.kill(t)
		t.Logf("kill %d after %d accepted events, %d requests received", i+1, acceptedN.Load(), rc.requests.Load())
		srv = startServer(t, bin, addr, dataDir)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	defer func() { _ = srv.cmd.Process.Kill(); _ = srv.cmd.Wait() }()

	rc.waitForAll(t, &accepted, 3*time.Minute, srv.log.String)
	duplicates := rc.checkDuplicates(t, &accepted)
	t.Logf("SOAK: %d kills, %d events accepted and delivered, %d requests, %d duplicates (all with their delivery id), %d deliveries at the receiver at the moments of the kills, 0 lost",
		kills, acceptedN.Load(), rc.requests.Load(), duplicates, inFlightAtKills.Load())
}

func second(_ int, err error) error { return err }
