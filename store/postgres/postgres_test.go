package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
	"github.com/switchyard/switchyard/store/storetest"
)

func open(t *testing.T, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s := open(t, pgtest.NewSchema(t), postgres.Options{})
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

// TestTextPostgresCannotHold: a receiver's binary answer is kept byte for byte, an error message
// with a NUL byte or invalid UTF-8 is stored cleaned instead of losing the attempt, and a name
// with a NUL byte is refused as invalid input (SQLite keeps any bytes; PostgreSQL's TEXT does not).
func TestTextPostgresCannotHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.NewSchema(t), postgres.Options{})
	defer s.Close()
	now := time.UnixMilli(1_900_000_000_000).UTC()
	if err := s.CreateAccount(ctx, &engine.Account{ID: "acc_nul", Name: "a\x00b", CreatedAt: now}); !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("an account name with a NUL byte: %v, want ErrInvalid", err)
	}
	acc := &engine.Account{ID: "acc_1", Name: "A", CreatedAt: now}
	app := &engine.App{ID: "app_1", Name: "B", CreatedAt: now}
	sub := &engine.Subscription{ID: "sub_1", AppID: app.ID, AccountID: acc.ID, Format: "standard", Events: []string{"*"},
		URL: "https://r.example", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAccount(ctx, acc); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Ingest(ctx, engine.IngestParams{Events: []*engine.Event{{ID: "evt_1", AccountID: acc.ID, Type: "a.b",
		Data: json.RawMessage(`{}`), OccurredAt: now, CreatedAt: now}},
		Route: func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
			return []*engine.Delivery{{ID: "dlv_1", SubscriptionID: sub.ID, AppID: app.ID, Kind: engine.DeliveryEvent,
				State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if w, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10}); err != nil || len(w) != 1 {
		t.Fatalf("ClaimDue: %d, %v", len(w), err)
	}
	body := "\x1f\x8b\x08\x00binary\x00\xff\xfe"
	err = s.Complete(ctx, []*engine.Outcome{{State: engine.DeliveryFailed, Attempt: &engine.Attempt{
		DeliveryID: "dlv_1", StartedAt: now, ResponseStatus: 500, ResponseBody: body, RequestBody: body,
		Error: "bad\x00reply \xff", Outcome: "error"}}})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	as, err := s.ListAttempts(ctx, "dlv_1")
	if err != nil || len(as) != 1 {
		t.Fatalf("ListAttempts: %d, %v", len(as), err)
	}
	if as[0].ResponseBody != body || as[0].RequestBody != body {
		t.Errorf("bodies %q / %q, want %q byte for byte", as[0].ResponseBody, as[0].RequestBody, body)
	}
	if as[0].Error != "badreply \uFFFD" {
		t.Errorf("error %q, want the NUL dropped and the invalid byte replaced", as[0].Error)
	}
	d, err := s.GetDelivery(ctx, "dlv_1")
	if err != nil || d.State != engine.DeliveryFailed || d.LastError != "badreply \uFFFD" {
		t.Errorf("delivery %+v, %v", d, err)
	}
}

// TestMigrateAtOnce: stores opening one empty database at once apply each migration once (the
// advisory lock), and opening again changes nothing.
func TestMigrateAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewSchema(t)
	const n = 4
	errs := make(chan error, n)
	stores := make(chan *postgres.Store, n)
	for range n {
		go func() {
			s, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
			errs <- err
			stores <- s
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Open at once: %v", err)
		}
		if s := <-stores; s != nil {
			defer s.Close()
		}
	}
	s := open(t, url, postgres.Options{})
	defer s.Close()
	var rows []struct {
		Component string `db:"component"`
		Version   int    `db:"version"`
	}
	if err := s.DB().SelectContext(ctx, &rows, `SELECT component, version FROM schema_versions ORDER BY component, version`); err != nil {
		t.Fatal(err)
	}
	// One row per migration file, so that adding a migration does not need this test changed.
	files, err := filepath.Glob("migrations/core/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("the core's migrations: %v, %v", files, err)
	}
	want := make([]string, len(files))
	for i := range files {
		want[i] = fmt.Sprintf("{core %d}", i+1)
	}
	if got := fmt.Sprint(rows); got != "["+strings.Join(want, " ")+"]" {
		t.Errorf("schema_versions %v, want each of the core's %d migrations once", rows, len(files))
	}
}

// TestClaimsAcrossStores: two stores on one database (two nodes' pools) claiming at once never take
// the same delivery, and together take them all.
func TestClaimsAcrossStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewSchema(t)
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	defer a.Close()
	defer b.Close()
	now := time.UnixMilli(1_900_000_000_000).UTC()
	acc := &engine.Account{ID: "acc_1", Name: "A", CreatedAt: now}
	app := &engine.App{ID: "app_1", Name: "B", CreatedAt: now}
	sub := &engine.Subscription{ID: "sub_1", AppID: app.ID, AccountID: acc.ID, Format: "standard", Events: []string{"*"},
		URL: "https://r.example", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
	if err := errors.Join(a.CreateAccount(ctx, acc), a.CreateApp(ctx, app), a.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub})); err != nil {
		t.Fatal(err)
	}
	const total = 400
	var evs []*engine.Event
	for i := range total {
		evs = append(evs, &engine.Event{ID: fmt.Sprintf("evt_%04d", i), AccountID: acc.ID, Type: "a.b", Data: json.RawMessage(`{}`), OccurredAt: now, CreatedAt: now})
	}
	_, err := a.Ingest(ctx, engine.IngestParams{Events: evs, Route: func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		return []*engine.Delivery{{ID: "dlv_" + ev.ID, SubscriptionID: sub.ID, AppID: app.ID, Kind: engine.DeliveryEvent,
			State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	claimed := make(chan []string, 2)
	for _, s := range []*postgres.Store{a, b} {
		go func() {
			var ids []string
			for {
				ws, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 7})
				if err != nil {
					t.Error(err)
				}
				if len(ws) == 0 {
					break
				}
				for _, w := range ws {
					ids = append(ids, w.Delivery.ID)
				}
			}
			claimed <- ids
		}()
	}
	seen := map[string]int{}
	for range 2 {
		for _, id := range <-claimed {
			seen[id]++
		}
	}
	if len(seen) != total {
		t.Errorf("%d deliveries claimed, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("delivery %s claimed %d times", id, n)
		}
	}
}

// TestOrderedAcrossStores (issue 22): two stores on one database (two nodes) ingest ordered
// deliveries at once, then claim and complete them at once. Each queue's numbers are given once
// each, 1 to n, in the order of each call's events; no queue ever has two deliveries out at once,
// and each goes out in number order.
func TestOrderedAcrossStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewSchema(t)
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	defer a.Close()
	defer b.Close()
	now := time.UnixMilli(1_900_000_000_000).UTC()
	acc := &engine.Account{ID: "acc_1", Name: "A", CreatedAt: now}
	app := &engine.App{ID: "app_1", Name: "B", CreatedAt: now}
	sub := &engine.Subscription{ID: "sub_1", AppID: app.ID, AccountID: acc.ID, Format: "standard", Events: []string{"*"},
		URL: "https://r.example", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now, Ordering: engine.OrderingEntity}
	if err := errors.Join(a.CreateAccount(ctx, acc), a.CreateApp(ctx, app), a.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub})); err != nil {
		t.Fatal(err)
	}
	const entities, calls, perCall = 5, 10, 20
	route := func(made chan<- *engine.Delivery) func(*engine.Event, []*engine.Subscription) []*engine.Delivery {
		return func(ev *engine.Event, _ []*engine.Subscription) []*engine.Delivery {
			d := &engine.Delivery{ID: "dlv_" + ev.ID, SubscriptionID: sub.ID, AppID: app.ID, Kind: engine.DeliveryEvent,
				State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now, OrderingKey: "client:" + ev.Entity.ID}
			made <- d
			return []*engine.Delivery{d}
		}
	}
	var wg sync.WaitGroup
	for n, s := range []*postgres.Store{a, b} {
		wg.Go(func() {
			for c := range calls {
				made := make(chan *engine.Delivery, perCall)
				var evs []*engine.Event
				for i := range perCall {
					evs = append(evs, &engine.Event{ID: fmt.Sprintf("evt_%d_%02d_%02d", n, c, i), AccountID: acc.ID, Type: "a.b",
						Entity: engine.Entity{Type: "client", ID: fmt.Sprint(i % entities)}, Data: json.RawMessage(`{}`), OccurredAt: now, CreatedAt: now})
				}
				if _, err := s.Ingest(ctx, engine.IngestParams{Events: evs, Route: route(made)}); err != nil {
					t.Error(err)
					return
				}
				close(made)
				last := map[string]int64{}
				for d := range made {
					if d.Sequence <= last[d.OrderingKey] {
						t.Errorf("call %d/%d: %s numbered %d after %d in the same call", n, c, d.ID, d.Sequence, last[d.OrderingKey])
					}
					last[d.OrderingKey] = d.Sequence
				}
			}
		})
	}
	wg.Wait()

	var (
		mu     sync.Mutex
		out    = map[string]string{}
		next   = map[string]int64{}
		handed int
	)
	const total = 2 * calls * perCall
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Go(func() {
			// The bound only keeps a broken store from hanging the test.
			for idle := 0; idle < 20000; {
				ws, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 3})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if len(ws) == 0 {
					finished := handed == total
					mu.Unlock()
					if finished {
						return
					}
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				outs := make([]*engine.Outcome, len(ws))
				for i, w := range ws {
					d := w.Delivery
					if other, busy := out[d.OrderingKey]; busy {
						t.Errorf("%s (number %d) handed out while %s of its queue was", d.ID, d.Sequence, other)
					}
					if next[d.OrderingKey]+1 != d.Sequence {
						t.Errorf("queue %s: number %d handed out after %d", d.OrderingKey, d.Sequence, next[d.OrderingKey])
					}
					out[d.OrderingKey], next[d.OrderingKey] = d.ID, d.Sequence
					handed++
					outs[i] = &engine.Outcome{Attempt: &engine.Attempt{DeliveryID: d.ID, StartedAt: now, Outcome: "success"},
						State: engine.DeliverySucceeded, SubscriptionID: sub.ID, Healthy: true}
				}
				mu.Unlock()
				// Out before the commit (the next of its queue can be claimed only after that),
				// but not before another claim had its chance to take the next too soon.
				runtime.Gosched()
				mu.Lock()
				for _, w := range ws {
					delete(out, w.Delivery.OrderingKey)
				}
				mu.Unlock()
				if err := s.Complete(ctx, outs); err != nil {
					t.Error(err)
					return
				}
			}
			t.Error("gave up waiting for work")
		})
	}
	wg.Wait()
	if handed != total {
		t.Errorf("handed out %d; want %d", handed, total)
	}
	for key, n := range next {
		if n != total/entities {
			t.Errorf("queue %s ended at %d; want %d", key, n, total/entities)
		}
	}
}
