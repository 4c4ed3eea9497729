package sqlite_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/sqlite"
	"github.com/switchyard/switchyard/store/storetest"
)

func open(t *testing.T, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s := open(t, filepath.Join(t.TempDir(), "switchyard.db"), sqlite.Options{})
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

// TestStoreNormal runs the suite once more with synchronous=NORMAL, the faster setting.
func TestStoreNormal(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite already ran with FULL")
	}
	storetest.Run(t, func(t *testing.T) engine.Store {
		s := open(t, filepath.Join(t.TempDir(), "switchyard.db"), sqlite.Options{Synchronous: "normal", BusyTimeout: time.Second})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s := open(t, path, sqlite.Options{})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if err := s.CreateAccount(ctx, &engine.Account{ID: "acc", Name: "A", CreatedAt: time.UnixMilli(1).UTC()}); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Opening migrates again: nothing changes, nothing is lost.
	s = open(t, path, sqlite.Options{})
	defer s.Close()
	if _, err := s.GetAccount(ctx, "acc"); err != nil {
		t.Fatalf("GetAccount after reopening: %v", err)
	}
	versions, err := sqlite.AppliedMigrations(ctx, s, sqlite.CoreComponent)
	if err != nil {
		t.Fatalf("AppliedMigrations: %v", err)
	}
	known, err := sqlite.KnownMigrations()
	if err != nil {
		t.Fatal(err)
	}
	// Each embedded migration of the core applied once.
	if fmt.Sprint(versions) != fmt.Sprint(known) || known[0] != 1 {
		t.Errorf("applied migrations %v, embedded %v", versions, known)
	}
}

func TestSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s := open(t, path, sqlite.Options{})
	now := time.Now().UTC().Truncate(time.Millisecond)
	acc := &engine.Account{ID: engine.NewID("acc"), Name: "A", CreatedAt: now}
	app := &engine.App{ID: engine.NewID("app"), Name: "B", Secret: "sign-with-me", CreatedAt: now}
	sub := &engine.Subscription{ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "standard",
		Events: []string{"*"}, URL: "https://r.example", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
	ev := &engine.Event{ID: engine.NewID("evt"), AccountID: acc.ID, Type: "a.b", Data: json.RawMessage(`{"x" : 1}`), OccurredAt: now, CreatedAt: now}
	if err := s.CreateAccount(ctx, acc); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
		t.Fatal(err)
	}
	var dlv string
	_, err := s.Ingest(ctx, engine.IngestParams{Events: []*engine.Event{ev}, Route: func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		dlv = engine.NewID("dlv")
		return []*engine.Delivery{{ID: dlv, EventID: ev.ID, SubscriptionID: subs[0].ID, AppID: subs[0].AppID,
			Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, sqlite.Options{})
	defer s.Close()
	got, err := s.GetEvent(ctx, ev.ID)
	if err != nil {
		t.Fatalf("GetEvent after reopening: %v", err)
	}
	if string(got.Data) != `{"x" : 1}` {
		t.Errorf("data after reopening = %q", got.Data)
	}
	if a, err := s.GetApp(ctx, app.ID); err != nil || a.Secret != "sign-with-me" {
		t.Errorf("app after reopening: %+v, %v", a, err)
	}
	ws, err := s.ClaimDue(ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
	if err != nil || len(ws) != 1 || ws[0].Delivery.ID != dlv {
		t.Fatalf("ClaimDue after reopening = %d works, %v; want %s", len(ws), err, dlv)
	}
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, tt := range []struct {
		opts sqlite.Options
		sync int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{
		{sqlite.Options{}, 2},
		{sqlite.Options{Synchronous: "NORMAL"}, 1},
	} {
		path := filepath.Join(dir, tt.opts.Synchronous+"x.db")
		s := open(t, path, tt.opts)
		p, err := sqlite.ReadPragmas(ctx, s)
		if err != nil {
			t.Fatalf("ReadPragmas: %v", err)
		}
		if p.JournalMode != "wal" || p.ReaderJournalMode != "wal" {
			t.Errorf("journal_mode = %q (reader %q); want wal", p.JournalMode, p.ReaderJournalMode)
		}
		if p.Synchronous != tt.sync {
			t.Errorf("%+v: synchronous = %d; want %d", tt.opts, p.Synchronous, tt.sync)
		}
		// Claims and attempts commit without waiting for the disk; a durable write that follows
		// one on the same connection is durable again.
		for range 2 {
			durable, relaxed, err := sqlite.SynchronousInWrites(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if durable != tt.sync || relaxed != 1 {
				t.Errorf("%+v: synchronous in a durable write = %d, in a relaxed one = %d; want %d and 1", tt.opts, durable, relaxed, tt.sync)
			}
		}
		if !p.ForeignKeys {
			t.Error("foreign_keys is off")
		}
		if p.BusyTimeoutMS != 10000 {
			t.Errorf("busy_timeout = %d; want 10000", p.BusyTimeoutMS)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// The WAL mode is the file's own: a plain open without the store sees it too.
		head, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Bytes 18 and 19 of the header are the write and read versions: 2 for WAL.
		if len(head) < 20 || head[18] != 2 || head[19] != 2 {
			t.Errorf("file header versions %v; want WAL (2, 2)", head[18:20])
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		path string
		opts sqlite.Options
	}{
		{"", sqlite.Options{}},
		{":memory:", sqlite.Options{}},
		{filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Synchronous: "OFF"}},
		{filepath.Join(t.TempDir(), "no-such-dir", "x.db"), sqlite.Options{}},
	} {
		if s, err := sqlite.Open(ctx, tt.path, tt.opts); err == nil {
			s.Close()
			t.Errorf("Open(%q, %+v) succeeded; want an error", tt.path, tt.opts)
		}
	}
}

func TestErrorsKeepTheDriverError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
	defer s.Close()
	a := &engine.Account{ID: "a", Name: "A"}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	err := s.CreateAccount(ctx, a)
	if !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("err = %v; want ErrConflict", err)
	}
	if !sqlite.IsConstraintError(err) {
		t.Errorf("err = %v; want the driver's constraint error kept in the chain", err)
	}
	// A reference to a missing row is invalid input, not a crash or a conflict.
	err = s.CreateApp(ctx, &engine.App{ID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.CreateCredential(ctx, &engine.Credential{ID: "c", AppID: "no-such-app", Kind: engine.CredentialAPIKey})
	if !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("credential of a missing app: %v; want ErrInvalid", err)
	}
}

func TestClaimUsesTheDueIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
	defer s.Close()
	plans, err := sqlite.HotQueryPlans(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"claim":              "deliveries_due",
		"claim-skipping":     "deliveries_pending (subscription_id=? AND next_attempt_at<?)",
		"nextdue":            "deliveries_due",
		"recover":            "deliveries_lease",
		"routing":            "subscriptions_routing",
		"routing-entity":     "subscriptions_routing",
		"routing-has-entity": "subscriptions_routing",
		"purge":              "attempts_started",
	} {
		if plan := plans[name]; !strings.Contains(plan, want) {
			t.Errorf("%s plan %q does not use %s", name, plan, want)
		}
	}
	// The metrics' counts run on every scrape: each must read a partial index, not the table.
	count := plans["count"]
	if strings.Count(count, "COVERING INDEX deliveries_due") != 2 || !strings.Contains(count, "COVERING INDEX deliveries_lease") {
		t.Errorf("count plan %q does not read deliveries_due twice and deliveries_lease", count)
	}
	// Ordered delivery's head check is a seek per state in deliveries_ordering, never a walk over
	// a queue's delivered past.
	if claim := plans["claim"]; strings.Count(claim, "COVERING INDEX deliveries_ordering (subscription_id=? AND state=? AND ordering_key=? AND sequence<?)") != 2 {
		t.Errorf("claim plan %q does not seek deliveries_ordering for both head checks", claim)
	}
}

// TestHotReadsAreNotPreparedAgain guards the reads of the ingest and claim transactions: SQLite
// prepares a statement again, parsing and planning it, when its plan was chosen with a bound value
// in view and that value changes, and these reads get new values in every transaction. The routing
// reads did with ORDER BY id, the claim's with a bound LIMIT; preparing was most of their cost.
func TestHotReadsAreNotPreparedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
	defer s.Close()
	counts, err := sqlite.HotReprepares(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 5 {
		t.Fatalf("counts %v; want the five hot reads", counts)
	}
	for name, n := range counts {
		if n != 0 {
			t.Errorf("%s was prepared again %d times when run with new values", name, n)
		}
	}
}

// TestSQLiteStartOptions: SQLite's process-wide options are set before the first connection opens
// (internal/startconfig): its memory count, which takes a mutex on every allocation, is off and
// stays off while a store works, page caches start without their bulk allocation, and statement
// journals stay in memory past SQLite's default 64 KiB.
func TestSQLiteStartOptions(t *testing.T) {
	if sqlite.MemstatusOff != 0 {
		t.Fatalf("sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) = %d, want 0 (SQLITE_OK): SQLite had started before it", sqlite.MemstatusOff)
	}
	if sqlite.PagecacheBulkOff != 0 {
		t.Fatalf("sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0) = %d, want 0 (SQLITE_OK): SQLite had started before it", sqlite.PagecacheBulkOff)
	}
	if sqlite.StmtJournalSpillSet != 0 {
		t.Fatalf("sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL) = %d, want 0 (SQLITE_OK): SQLite had started before it", sqlite.StmtJournalSpillSet)
	}
	s := open(t, filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
	defer s.Close()
	now := time.Now().UTC()
	if err := s.CreateAccount(context.Background(), &engine.Account{ID: engine.NewID("acc"), Name: "A", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if used := sqlite.MemoryCounted(); used != 0 {
		t.Errorf("SQLite counts %d bytes held by an open store: its memory count is on", used)
	}
}

// TestStatementJournalsStayInMemory: a statement that may fail half-way keeps the pages it changes
// that its transaction had already changed, in its statement journal. SQLite moves that journal to
// a temporary file past 64 KiB, and the store's multi-row statements went past it on every busy
// transaction (3,000 writes to such files in 2 s of the load generator's 16 x 20 run). Here one
// statement journals about 400 KiB; while its transaction is open, the process may hold no
// temporary file (SQLite unlinks its own at once, so they show as deleted files). Not parallel:
// another test's files would count.
func TestStatementJournalsStayInMemory(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
	defer s.Close()
	var tempFiles []string
	err := s.Write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE journal_probe (k INTEGER UNIQUE, pad TEXT)"); err != nil {
			return err
		}
		for i := range 400 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO journal_probe VALUES (?, ?)", i, strings.Repeat("x", 1000)); err != nil {
				return err
			}
		}
		// Every row changes a unique column: the statement may fail on any row, so SQLite journals
		// each page it changes, all of them already changed by this transaction.
		if _, err := tx.ExecContext(ctx, "UPDATE journal_probe SET k = k + 1000000, pad = pad || 'y'"); err != nil {
			return err
		}
		var err error
		tempFiles, err = openDeletedFiles()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tempFiles) > 0 {
		t.Errorf("a 400 KiB statement journal went to temporary files: %v", tempFiles)
	}
}

// openDeletedFiles lists the files this process holds open that have no name left.
func openDeletedFiles() ([]string, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	var found []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasSuffix(target, " (deleted)") {
			found = append(found, target)
		}
	}
	return found, nil
}

func TestPurgeInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
	defer s.Close()
	sqlite.SetPurgeBatch(s, 3)
	now := time.Now().UTC().Truncate(time.Millisecond)
	acc := &engine.Account{ID: "acc", Name: "A", CreatedAt: now}
	app := &engine.App{ID: "app", Name: "B", CreatedAt: now}
	sub := &engine.Subscription{ID: "sub", AppID: app.ID, AccountID: acc.ID, Format: "standard", Events: []string{"*"},
		URL: "https://r.example", State: engine.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
	hs := &engine.Delivery{ID: "dlv", SubscriptionID: sub.ID, AppID: app.ID, Kind: engine.DeliveryHandshake,
		State: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	for _, err := range []error{
		s.CreateAccount(ctx, acc), s.CreateApp(ctx, app),
		s.CreateSubscription(ctx, engine.CreateSubscriptionParams{Subscription: sub, Handshake: hs}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var outs []*engine.Outcome
	for i := range 11 {
		outs = append(outs, &engine.Outcome{State: engine.DeliveryPending, NextAttemptAt: now, SubscriptionID: sub.ID,
			Attempt: &engine.Attempt{DeliveryID: hs.ID, StartedAt: now.Add(time.Duration(i) * time.Second)}})
	}
	if err := s.Complete(ctx, outs); err != nil {
		t.Fatal(err)
	}
	// 10 of the 11 started before the cut: three full batches and one short one.
	n, err := s.PurgeAttempts(ctx, now.Add(10*time.Second))
	if err != nil || n != 10 {
		t.Fatalf("PurgeAttempts = %d, %v; want 10", n, err)
	}
	as, err := s.ListAttempts(ctx, hs.ID)
	if err != nil || len(as) != 1 || as[0].Number != 11 {
		t.Fatalf("left %d attempts, %v; want number 11 alone", len(as), err)
	}
}

// TestSurvivesKill kills a process while it ingests and checks every event whose Ingest had
// returned is in the database: a commit is a commit when the method returns. At synchronous=NORMAL
// too, which syncs nothing at a commit: the writer's WAL buffer (internal/walbuffer) must be in the
// file by then.
func TestSurvivesKill(t *testing.T) {
	if path := os.Getenv("SWITCHYARD_CRASH_DB"); path != "" {
		crashChild(path, os.Getenv("SWITCHYARD_CRASH_SYNCHRONOUS"))
		return
	}
	for _, synchronous := range []string{"FULL", "NORMAL"} {
		t.Run(synchronous, func(t *testing.T) {
			t.Parallel()
			surviveKill(t, synchronous)
		})
	}
}

func surviveKill(t *testing.T, synchronous string) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	s := open(t, path, sqlite.Options{})
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CreateAccount(ctx, &engine.Account{ID: "acc", Name: "A", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestSurvivesKill$")
	cmd.Env = append(os.Environ(), "SWITCHYARD_CRASH_DB="+path, "SWITCHYARD_CRASH_SYNCHRONOUS="+synchronous)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 300 {
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, id)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-ingest
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("the child acknowledged only %d events", len(acked))
	}

	s = open(t, path, sqlite.Options{})
	defer s.Close()
	for _, id := range acked {
		if _, err := s.GetEvent(ctx, id); err != nil {
			t.Fatalf("acknowledged event %s lost: %v", id, err)
		}
	}
}

func crashChild(path, synchronous string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: synchronous})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		batch := make([]*engine.Event, 3)
		for i := range batch {
			batch[i] = &engine.Event{ID: engine.NewID("evt"), AccountID: "acc", Type: "a.b", Data: json.RawMessage(`{}`)}
		}
		res, err := s.Ingest(ctx, engine.IngestParams{Events: batch})
		if err != nil {
			fmt.Println("ingest:", err)
			os.Exit(1)
		}
		for _, r := range res {
			fmt.Fprintln(w, "acked", r.EventID)
		}
		w.Flush()
	}
}

// TestSpilledTransactionSurvivesKill commits, at synchronous=NORMAL, a transaction that spills
// pages to the WAL and changes them again, so that SQLite rewrites its frames' checksums after the
// commit frame, and kills the process at once: recovery reads the WAL's checksums, so those
// rewrites must be in the file before the commit is published (internal/walbuffer).
func TestSpilledTransactionSurvivesKill(t *testing.T) {
	const rows = 300
	if path := os.Getenv("SWITCHYARD_SPILL_DB"); path != "" {
		ctx := context.Background()
		s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "NORMAL"})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		err = s.Write(ctx, func(tx *sqlx.Tx) error {
			// A page cache of 10 pages: the inserts spill, and the update changes spilled pages.
			for _, q := range []string{"PRAGMA cache_size = 10", "CREATE TABLE spill (k INTEGER PRIMARY KEY, pad BLOB)"} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			for i := range rows {
				if _, err := tx.ExecContext(ctx, "INSERT INTO spill VALUES (?, randomblob(3000))", i); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, "UPDATE spill SET pad = zeroblob(3000)")
			return err
		})
		if err != nil {
			fmt.Println("write:", err)
			os.Exit(1)
		}
		fmt.Println("committed")
		select {} // until killed
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spill.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpilledTransactionSurvivesKill$")
	cmd.Env = append(os.Environ(), "SWITCHYARD_SPILL_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	committed := false
	for !committed && sc.Scan() {
		committed = sc.Text() == "committed"
		if !committed {
			t.Log("child:", sc.Text())
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !committed {
		t.Fatal("the child did not commit")
	}
	s := open(t, path, sqlite.Options{})
	defer s.Close()
	var n, zeroed int
	err = s.Reader().QueryRowContext(context.Background(), "SELECT count(*), count(*) FILTER (WHERE pad = zeroblob(3000)) FROM spill").Scan(&n, &zeroed)
	if err != nil || n != rows || zeroed != rows {
		t.Fatalf("after the kill: %d rows, %d of them updated, %v; want %d and %d", n, zeroed, err, rows, rows)
	}
}

// TestWALIsWrittenATransactionAtATime checks the writer's WAL frames reach the file in few writes,
// not SQLite's two a frame (internal/walbuffer), and that a reader, through SQLite's own VFS, reads
// them. Not parallel: the write counts are the process's.
func TestWALIsWrittenATransactionAtATime(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Synchronous: "NORMAL"})
	defer s.Close()
	if err := s.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE wal_probe (pad BLOB)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const rows = 100 // of 3,000 bytes: a page each
	buffered, issued := sqlite.WALWrites()
	if err := s.Write(ctx, func(tx *sqlx.Tx) error {
		for range rows {
			if _, err := tx.ExecContext(ctx, "INSERT INTO wal_probe VALUES (randomblob(3000))"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	afterBuffered, afterIssued := sqlite.WALWrites()
	buffered, issued = afterBuffered-buffered, afterIssued-issued
	// A frame is two writes of SQLite's; 128 KiB, the most one write takes, hold 31 frames.
	if buffered < 2*rows || issued > buffered/20 {
		t.Errorf("a transaction of %d pages: SQLite wrote the WAL %d times, the file was written %d times; want at least %d, and a write for 31 frames",
			rows, buffered, issued, 2*rows)
	}
	var n int
	if err := s.Reader().GetContext(ctx, &n, "SELECT count(*) FROM wal_probe"); err != nil || n != rows {
		t.Fatalf("a reader counts %d rows, %v; want %d", n, err, rows)
	}
}

// TestCheckpointsReadTheWALInChunks writes more than SQLite's 1,000-page autocheckpoint through
// the writer, so that one of its commits copies the WAL into the database, and checks the copy read
// the WAL a chunk at a time rather than a page at a time, and copied every page as written: the
// rows are read back after a reopen, which starts without the WAL.
func TestCheckpointsReadTheWALInChunks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	s := open(t, path, sqlite.Options{Synchronous: "NORMAL"})
	if err := s.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE checkpoint_probe (n INTEGER PRIMARY KEY, pad TEXT)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const rows, perTransaction = 1500, 100 // of 3,000 bytes: a page each
	served, chunks := sqlite.CheckpointReads()
	for first := 0; first < rows; first += perTransaction {
		if err := s.Write(ctx, func(tx *sqlx.Tx) error {
			for n := first; n < first+perTransaction; n++ {
				if _, err := tx.ExecContext(ctx, "INSERT INTO checkpoint_probe VALUES (?, printf('%.3000d', ?))", n, n); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	afterServed, afterChunks := sqlite.CheckpointReads()
	served, chunks = afterServed-served, afterChunks-chunks
	// 1,000 frames of 4 KiB span 16 chunks of 256 KiB.
	if served < 900 || chunks > served/20 {
		t.Errorf("a checkpoint of about 1,000 pages: %d reads of the WAL answered from %d chunks; want at least 900 from one chunk for 20 or more", served, chunks)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the WAL outlived the store's close (%v): the reopen would read pages from it", err)
	}
	s = open(t, path, sqlite.Options{})
	defer s.Close()
	var intact int
	if err := s.Reader().GetContext(ctx, &intact, "SELECT count(*) FROM checkpoint_probe WHERE pad = printf('%.3000d', n)"); err != nil || intact != rows {
		t.Fatalf("after the checkpoints and a reopen, %d rows read as written (%v); want %d", intact, err, rows)
	}
	var check string
	if err := s.Reader().GetContext(ctx, &check, "PRAGMA integrity_check"); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
}

// TestDatabaseFilesAreOwnerOnly checks the database and its -wal and -shm are readable by their
// owner only: created so, and tightened when an older version left them open to the group.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchyard.db")
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s: %s has mode %o, want 600", when, filepath.Base(p), mode)
			}
		}
	}
	s := open(t, path, sqlite.Options{})
	if err := s.CreateAccount(context.Background(), &engine.Account{ID: engine.NewID("acc"), Name: "A", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	check("created")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	s = open(t, path, sqlite.Options{})
	defer s.Close()
	if err := s.CreateAccount(context.Background(), &engine.Account{ID: engine.NewID("acc"), Name: "B", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	check("reopened")
}
