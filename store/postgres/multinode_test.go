package postgres_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/auth"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/engine/outbound"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// Several nodes on one database, each a store (its own pool), an engine and an authenticator, as
// a node assembles them: the mechanisms they coordinate through, without the HTTP server and the
// vendor styles (which need their PostgreSQL stores for a whole node).

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testNode is one node's parts on the shared database.
type testNode struct {
	id       string
	store    *postgres.Store
	notifier *postgres.Notifier
	leader   *postgres.Leader
	auth     *auth.Authenticator
	engine   *engine.Engine
	clock    *enginetest.Clock
}

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// startNode assembles a node on url; leader wraps its Leader when set. The node is stopped at the
// end of the test.
func startNode(t *testing.T, url, id string, wrap func(engine.Leader) engine.Leader, styles ...engine.Style) *testNode {
	t.Helper()
	ctx := context.Background()
	n := &testNode{id: id, store: open(t, url, postgres.Options{MaxConns: 4}), clock: enginetest.NewClock(t0)}
	t.Cleanup(func() { n.store.Close() })
	n.notifier = n.store.NewNotifier(quiet)
	if err := n.notifier.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.notifier.Stop(context.Background()) })
	n.leader = n.store.NewLeader()
	t.Cleanup(func() { n.leader.Close() })
	var leader engine.Leader = n.leader
	if wrap != nil {
		leader = wrap(leader)
	}
	var err error
	// The fallback is an hour: a revocation seen sooner came by notification.
	if n.auth, err = auth.New(auth.Config{AdminToken: "admin", Clock: n.clock, CacheTTL: time.Hour}, n.store); err != nil {
		t.Fatal(err)
	}
	n.engine, err = engine.New(engine.Config{
		NodeID: id, Notifier: n.notifier, Leader: leader, CredentialRevoked: n.auth.Forget,
		Outbound: outbound.Config{Guard: outbound.NewGuard(nil, nil)}, Clock: n.clock, Logger: quiet,
	}, n.store, engine.NewPlugins())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range styles {
		if err := n.engine.AddStyle(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.engine.Stop(context.Background()) })
	return n
}

// terminate ends a server process as a crash or a cut network would end its connection, and waits
// until the server has cleaned up after it (released its locks).
func terminate(t *testing.T, db *sqlx.DB, pid uint32) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var alive bool
		if err := db.GetContext(ctx, &alive, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, int32(pid)); err != nil {
			t.Fatal(err)
		}
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server process %d still runs 30s after it was told to end", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRevocationReachesEveryNode: a credential that authenticated on node B (and is cached there)
// is refused by B as soon as node A's revocation is notified, with the fallback an hour away; a
// third authenticator that hears no notifications still lets it in from its cache, which shows the
// notification is what made B refuse it. When B's listening connection is cut, B starts over
// (forgets every cached credential) on reconnecting, so a revocation missed meanwhile is not let
// through either.
func TestRevocationReachesEveryNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	a := startNode(t, url, "node_a", nil)
	b := startNode(t, url, "node_b", nil)
	deaf, err := auth.New(auth.Config{AdminToken: "admin", Clock: b.clock, CacheTTL: time.Hour}, b.store)
	if err != nil {
		t.Fatal(err)
	}
	heard := make(chan string, 16)
	b.notifier.Subscribe(engine.TopicCredentialRevoked, func(id string) { heard <- id })

	app, err := a.engine.CreateApp(ctx, engine.NewApp{Name: "publisher"})
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *engine.IssuedCredential {
		c, err := a.engine.CreateCredential(ctx, app.ID, engine.NewCredential{Kind: engine.CredentialAPIKey, Scopes: []string{engine.ScopePublish}})
		if err != nil {
			t.Fatal(err)
		}
		for _, authn := range []*auth.Authenticator{b.auth, deaf} {
			if _, err := authn.Token(ctx, c.Token); err != nil {
				t.Fatalf("before revocation: %v", err)
			}
		}
		return c
	}
	wait := func(what string) string {
		select {
		case id := <-heard:
			return id
		case <-time.After(30 * time.Second):
			t.Fatalf("node B heard nothing of %s in 30s", what)
			return ""
		}
	}

	c1 := issue()
	if _, err := a.engine.RevokeCredential(ctx, c1.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	if id := wait("the revocation"); id != c1.ID {
		t.Fatalf("node B heard %q; want %s", id, c1.ID)
	}
	// A figure for RELIABILITY.md, not a condition.
	t.Logf("node B heard of the revocation %v after node A committed it", time.Since(revoked))
	if _, err := b.auth.Token(ctx, c1.Token); !errors.Is(err, engine.ErrUnauthorized) {
		t.Errorf("node B after node A revoked the credential: %v; want ErrUnauthorized", err)
	}
	if _, err := deaf.Token(ctx, c1.Token); err != nil {
		t.Errorf("the authenticator without notifications, from its cache: %v; want it let in (this test's control)", err)
	}

	// Cut B's listening connection: B connects again and drops everything it cached, whether the
	// revocation's notification came before the cut, after the reconnection, or was lost.
	c2 := issue()
	terminate(t, a.store.DB(), b.notifier.ListenerPID())
	if _, err := a.engine.RevokeCredential(ctx, c2.ID); err != nil {
		t.Fatal(err)
	}
	for id := wait("the reconnection"); id != engine.Reset && id != c2.ID; id = wait("the reconnection") {
	}
	if _, err := b.auth.Token(ctx, c2.Token); !errors.Is(err, engine.ErrUnauthorized) {
		t.Errorf("node B after a revocation while its listener was cut: %v; want ErrUnauthorized", err)
	}
}

// TestLeaderMovesWhenItsConnectionEnds: of two nodes, the first to ask leads and the other does not
// while the leader lives; when the leader's connection ends (its process died), the lock goes with
// it and the other node leads, and the old leader, connected again, does not.
func TestLeaderMovesWhenItsConnectionEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url, postgres.Options{MaxConns: 2})
	defer s.Close()
	l1, l2 := s.NewLeader(), s.NewLeader()
	defer l1.Close()
	defer l2.Close()
	leads := func(l *postgres.Leader) bool {
		t.Helper()
		ok, err := l.Leading(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !leads(l1) {
		t.Fatal("the first node to ask does not lead")
	}
	for range 3 {
		if leads(l2) {
			t.Fatal("two nodes lead at once")
		}
		if !leads(l1) {
			t.Fatal("the leader lost the lead while alive")
		}
	}
	terminate(t, s.DB(), l1.PID())
	if !leads(l2) {
		t.Fatal("the other node does not lead after the leader's connection ended")
	}
	if leads(l1) {
		t.Fatal("the old leader leads again beside the new one")
	}
	// A clean stop hands the lead over at once.
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if !leads(l1) {
		t.Fatal("the lead was not free after the leader closed")
	}
}

// jobStyle is a style with one job that says which node ran it.
type jobStyle struct {
	node string
	runs chan<- string
}

func (s jobStyle) Name() string { return "jobs-" + s.node }
func (s jobStyle) Jobs() []*engine.Job {
	return []*engine.Job{{Name: "tick", Spec: "@every 1m", Run: func(context.Context, time.Time) error {
		s.runs <- s.node
		return nil
	}}}
}

// askedLeader reports each answer of a Leader.
type askedLeader struct {
	engine.Leader
	node  string
	asked chan<- string
}

func (l askedLeader) Leading(ctx context.Context) (bool, error) {
	ok, err := l.Leader.Leading(ctx)
	if ok {
		l.asked <- l.node + " leads"
	} else {
		l.asked <- l.node + " follows"
	}
	return ok, err
}

// TestJobsRunOnOneNode: two engines with the same job on one database, their clocks moved on
// together: the job runs on one only, though both schedulers reach its times and ask. When the
// leader dies (its engine stops, and its connection ends as a dead process's does), the job runs
// on the other node.
func TestJobsRunOnOneNode(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	runs := make(chan string, 1000)
	asked := make(chan string, 1000)
	answers := map[string]int{}
	wrap := func(node string) func(engine.Leader) engine.Leader {
		return func(l engine.Leader) engine.Leader { return askedLeader{Leader: l, node: node, asked: asked} }
	}
	a := startNode(t, url, "node_a", wrap("node_a"), jobStyle{node: "node_a", runs: runs})
	b := startNode(t, url, "node_b", wrap("node_b"), jobStyle{node: "node_b", runs: runs})
	nodes := map[string]*testNode{"node_a": a, "node_b": b}

	// Move the nodes' clocks a minute at a time until each scheduler has asked n more times.
	tick := func(n int, on ...*testNode) {
		t.Helper()
		seen := map[string]int{}
		deadline := time.Now().Add(60 * time.Second)
		for {
			done := true
			for _, node := range on {
				done = done && seen[node.id] >= n
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the schedulers asked %v times in 60s", seen)
			}
			for _, node := range on {
				node.clock.Advance(time.Minute)
			}
		drain:
			for {
				select {
				case s := <-asked:
					node, answer, _ := strings.Cut(s, " ")
					seen[node]++
					answers[node+" "+answer]++
				case <-time.After(20 * time.Millisecond):
					break drain
				}
			}
		}
	}
	// A run follows the leader's answer, which tick saw, by however long the scheduler takes to
	// start the job: ran waits until none has come for a while (a clean clone's make test once
	// found the last of three runs not there yet).
	ran := func() map[string]int {
		out := map[string]int{}
		for {
			select {
			case n := <-runs:
				out[n]++
			case <-time.After(300 * time.Millisecond):
				return out
			}
		}
	}

	tick(3, a, b)
	first := ran()
	if len(first) != 1 {
		t.Fatalf("the job ran on %v; want one node", first)
	}
	var leader string
	for n := range first {
		leader = n
	}
	follower := map[string]string{"node_a": "node_b", "node_b": "node_a"}[leader]
	if answers[follower+" leads"] != 0 || answers[follower+" follows"] < 3 || first[leader] < 3 {
		t.Errorf("answers %v, runs %v: want the follower to ask and never lead, the leader to run the job each time", answers, first)
	}

	// The leader dies: nothing of it runs any more, and its connections end.
	if err := nodes[leader].engine.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ran()
	terminate(t, nodes[follower].store.DB(), nodes[leader].leader.PID())
	tick(2, nodes[follower])
	if second := ran(); second[follower] == 0 || second[leader] != 0 {
		t.Errorf("after the leader died the job ran on %v; want %s", second, follower)
	}
}

// TestStartLeavesOtherNodesLeases: on a shared database a starting node takes back the leases its
// own ID holds (a previous run's) and no other live node's, and a clean stop hands back at once
// every lease it still holds.
func TestStartLeavesOtherNodesLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url, postgres.Options{MaxConns: 4})
	defer s.Close()
	now := t0
	acc := &engine.Account{ID: "acc_1", Name: "A", CreatedAt: now}
	app := &engine.App{ID: "app_1", Name: "B", CreatedAt: now}
	sub := &engine.Subscription{ID: "sub_1", AppID: app.ID, AccountID: acc.ID, Format: "standard", Events: []string{"*"},
		URL: "https://r.example", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
	for _, err := range []error{s.CreateAccount(ctx, acc), s.CreateApp(ctx, app), s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Due in an hour: the engines, whose clocks stand at t0, claim none of them themselves.
	later := now.Add(time.Hour)
	var ids []string
	for range 6 {
		ev := &engine.Event{ID: engine.NewID("evt"), AccountID: acc.ID, Type: "thing.happened", Data: []byte(`{}`), OccurredAt: now, CreatedAt: now}
		_, err := s.Ingest(ctx, engine.IngestParams{Events: []*engine.Event{ev}, Route: func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
			d := &engine.Delivery{ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: sub.ID, AppID: app.ID, Kind: engine.DeliveryEvent,
				State: engine.DeliveryPending, NextAttemptAt: later, CreatedAt: now, UpdatedAt: now}
			ids = append(ids, d.ID)
			return []*engine.Delivery{d}
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	// node_a (live, elsewhere) holds three; node_c three, left by a run that crashed.
	claim := func(owner string) {
		if ws, err := s.ClaimDue(ctx, engine.ClaimParams{Now: later, LeaseUntil: later.Add(time.Hour), Limit: 3, Owner: owner}); err != nil || len(ws) != 3 {
			t.Fatalf("claim for %s: %d, %v", owner, len(ws), err)
		}
	}
	claim("node_a")
	claim("node_c")
	owners := func() map[string]int {
		out := map[string]int{}
		for _, id := range ids {
			d, err := s.GetDelivery(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			key := string(d.State) + " " + d.LeaseOwner
			if d.LeaseUntil != nil && d.LeaseUntil.Equal(later.Add(time.Hour)) {
				key += " (first lease)"
			}
			out[key]++
		}
		return out
	}

	b := startNode(t, url, "node_b", nil)
	if got := owners(); got["in_flight node_a (first lease)"] != 3 || got["in_flight node_c (first lease)"] != 3 {
		t.Fatalf("after node_b started: %v; want node_a's and node_c's leases untouched", got)
	}
	// node_c's dispatcher may claim what it took back, and fail it (it has no plugins): either
	// way its first leases are gone, and node_a's stay.
	c := startNode(t, url, "node_c", nil)
	if got := owners(); got["in_flight node_a (first lease)"] != 3 || got["in_flight node_c (first lease)"] != 0 {
		t.Fatalf("after node_c started again: %v; want its own leases back, node_a's untouched", got)
	}
	if err := c.engine.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// node_b's own dispatcher may take what node_c handed back at any moment (and fail it, having
	// no plugins, which makes it pending again): handed back means pending or node_b's.
	if got := owners(); got["in_flight node_a (first lease)"] != 3 || got["pending "]+got["in_flight node_b"]+got["in_flight node_b (first lease)"] != 3 {
		t.Fatalf("after node_c stopped: %v; want its deliveries handed back, node_a's untouched", got)
	}
	// node_b holds all three (the test claims for it what its dispatcher has not), then stops: they
	// are free at once, node_a's still not.
	heldByB := func() int { got := owners(); return got["in_flight node_b"] + got["in_flight node_b (first lease)"] }
	for deadline := time.Now().Add(30 * time.Second); heldByB() != 3; time.Sleep(10 * time.Millisecond) {
		if _, err := s.ClaimDue(ctx, engine.ClaimParams{Now: later, LeaseUntil: later.Add(time.Hour), Limit: 3, Owner: b.id}); err != nil {
			t.Fatalf("claim for node_b: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("node_b never held the three: %v", owners())
		}
	}
	if err := b.engine.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := owners(); got["in_flight node_a (first lease)"] != 3 || got["pending "] != 3 {
		t.Fatalf("after node_b stopped: %v; want its leases free, node_a's untouched", got)
	}
}

// TestSharedSecretIsEveryNodes: nodes asking for a secret at once, each on its own pool, all get
// the value the first of them stored, and only one of them stored one.
func TestSharedSecretIsEveryNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	const n = 4
	type answer struct {
		value   string
		created bool
		err     error
	}
	answers := make(chan answer, n)
	for i := range n {
		s := open(t, url, postgres.Options{MaxConns: 2})
		defer s.Close()
		go func() {
			v, created, err := s.SharedSecret(ctx, "server_key", func() ([]byte, error) { return []byte{byte('a' + i)}, nil })
			answers <- answer{string(v), created, err}
		}()
	}
	values, created := map[string]int{}, 0
	for range n {
		a := <-answers
		if a.err != nil {
			t.Fatal(a.err)
		}
		values[a.value]++
		if a.created {
			created++
		}
	}
	if len(values) != 1 || created != 1 {
		t.Errorf("nodes got %v, %d of them stored theirs; want one value for all, stored once", values, created)
	}
}

// pluginNode is one node's plugin manager on the shared database.
type pluginNode struct {
	plugins *engine.Plugins
	custom  *custom.Manager
}

func startPluginNode(t *testing.T, url string) *pluginNode {
	t.Helper()
	ctx := context.Background()
	s := open(t, url, postgres.Options{MaxConns: 4})
	t.Cleanup(func() { s.Close() })
	notifier := s.NewNotifier(quiet)
	if err := notifier.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notifier.Stop(context.Background()) })
	rt, err := runtime.New(ctx, runtime.Config{CacheDir: runtimetest.CacheDir(t), PoolSize: 1, CallTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	n := &pluginNode{plugins: engine.NewPlugins()}
	// The fallback is an hour away: what arrives sooner came by notification.
	n.custom = custom.New(custom.Config{Uploads: s, Notifier: notifier, SyncInterval: time.Hour, Logger: quiet}, rt, n.plugins, s)
	if err := n.custom.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.custom.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.custom.Stop(context.Background()) })
	return n
}

// waitVersion waits until deliveries in format name get the module version (name@version#hash,
// as attempts record it; "" for none).
func (n *pluginNode) waitVersion(t *testing.T, name, version string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := ""
		p, release, ok := n.plugins.Acquire(name)
		if ok {
			got = p.Version()
		}
		release()
		if got == version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s deliveries in %s get %q; want %q", name, got, version)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPluginUploadedThroughOneNodeServesOnAll: a plugin uploaded through node A is stored in the
// database and loaded by node B without a restart, and by a node started afterwards at its start;
// a new version uploaded through B replaces the old one on A; deleting it through B takes it out of
// service everywhere.
func TestPluginUploadedThroughOneNodeServesOnAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	v1, v2 := runtimetest.Build(t, "../../api/testdata/versioned/v1"), runtimetest.Build(t, "../../api/testdata/versioned/v2")
	a, b := startPluginNode(t, url), startPluginNode(t, url)

	up1, err := a.custom.Upload(ctx, "versioned", v1, false)
	if err != nil {
		t.Fatal(err)
	}
	b.waitVersion(t, "versioned", up1.Module)
	c := startPluginNode(t, url)
	if got, err := c.custom.Get("versioned"); err != nil || got.Hash != up1.Hash || got.Source != custom.SourceUpload {
		t.Errorf("a node started after the upload: %+v, %v; want the upload", got, err)
	}

	up2, err := b.custom.Upload(ctx, "versioned", v2, false)
	if err != nil {
		t.Fatal(err)
	}
	if up2.Replaced != up1.Module {
		t.Errorf("node B's upload replaced %q; want %s", up2.Replaced, up1.Module)
	}
	a.waitVersion(t, "versioned", up2.Module)
	c.waitVersion(t, "versioned", up2.Module)

	if err := b.custom.Delete(ctx, "versioned"); err != nil {
		t.Fatal(err)
	}
	a.waitVersion(t, "versioned", "")
	c.waitVersion(t, "versioned", "")
	if _, err := a.custom.Get("versioned"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("node A still lists the plugin after B deleted it: %v", err)
	}
}
