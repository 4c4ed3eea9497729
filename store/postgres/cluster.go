package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard/engine"
)

// What nodes sharing one PostgreSQL database coordinate through (engine.Notifier, engine.Leader):
// each on a connection of its own, outside the pool, because LISTEN and a session's advisory lock
// belong to one session, and the pool hands sessions out and closes idle ones.

// notifyChannel is the one channel every node listens on; a notification's payload is the topic,
// a space, and the topic's payload. It is per database, as the data is.
const notifyChannel = "switchyard_changes"

// Notifier is the engine.Notifier of nodes on one PostgreSQL database: NOTIFY on the pool to
// publish, LISTEN on a dedicated connection to receive. Each time it starts listening (first, and
// again after its connection dropped) it tells every subscriber engine.Reset, as what was published
// while it did not listen is lost.
type Notifier struct {
	url    string
	store  *Store
	local  *engine.LocalNotifier
	logger *slog.Logger
	// Retry is how long to wait before connecting again after a failure. Default 1s.
	Retry time.Duration
	engine.Loop

	mu      sync.Mutex
	started chan error // the first connection's outcome: nil once it listens
	pid     uint32     // the listening connection's server process, for tests
}

var (
	_ engine.Notifier = (*Notifier)(nil)
	_ engine.Service  = (*Notifier)(nil)
)

// NewNotifier returns the notifier of the store's database. Start it to receive.
func (s *Store) NewNotifier(logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.Default()
	}
	n := &Notifier{url: s.url, store: s, local: engine.NewLocalNotifier(), logger: logger, Retry: time.Second,
		started: make(chan error, 1)}
	n.Run = n.loop
	return n
}

// Start starts listening and returns once the first LISTEN is in place, so that nothing published
// after Start returns is missed, or with the error of the first connection.
func (n *Notifier) Start(ctx context.Context) error {
	if err := n.Loop.Start(ctx); err != nil {
		return err
	}
	select {
	case err := <-n.started:
		if err != nil {
			_ = n.Loop.Stop(context.Background())
			return fmt.Errorf("listen for changes from other nodes: %w", err)
		}
		return nil
	case <-ctx.Done():
		_ = n.Loop.Stop(context.Background())
		return fmt.Errorf("listen for changes: %w", ctx.Err())
	}
}

// Publish sends a notification to every node's subscribers, this node's too (through the
// database, as the others').
func (n *Notifier) Publish(ctx context.Context, topic, payload string) error {
	if _, err := n.store.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, topic+" "+payload); err != nil {
		return fmt.Errorf("notify %s: %w", topic, err)
	}
	return nil
}

// Subscribe calls fn with every payload published on topic.
func (n *Notifier) Subscribe(topic string, fn func(string)) { n.local.Subscribe(topic, fn) }

// ListenerPID is the server process of the listening connection (0 when none), so that a test can
// end it as a network failure would.
func (n *Notifier) ListenerPID() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pid
}

func (n *Notifier) loop(ctx context.Context) {
	listened := false
	for ctx.Err() == nil {
		err := n.listen(ctx, &listened)
		if ctx.Err() != nil {
			return
		}
		if !listened {
			// Start reports it: a node does not run without hearing the others.
			n.started <- err
			<-ctx.Done()
			return
		}
		n.logger.Warn("listening for changes from other nodes failed; connecting again", "err", err)
		t := time.NewTimer(n.Retry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// listen connects, listens and delivers notifications until the connection fails.
func (n *Notifier) listen(ctx context.Context, listened *bool) error {
	conn, err := pgx.Connect(ctx, n.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		return err
	}
	n.mu.Lock()
	n.pid = conn.PgConn().PID()
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.pid = 0
		n.mu.Unlock()
	}()
	// Whatever was published while no connection listened is lost: before a reconnection, and
	// before the first LISTEN, after the node read what it keeps (its plugins, at Open).
	n.local.DeliverAll(engine.Reset)
	if !*listened {
		*listened = true
		n.started <- nil
	}
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		topic, payload, _ := strings.Cut(msg.Payload, " ")
		n.local.Deliver(topic, payload)
	}
}

// leaderLock is the advisory lock key the leader holds. (The bytes of "swleader".)
const leaderLock int64 = 0x73776c6561646572

// Leader is the engine.Leader of nodes on one PostgreSQL database: the node whose dedicated
// connection holds a session advisory lock leads. The lock goes with the session, so when the
// leader dies, or its connection does, the server releases it and the next node to try takes it.
type Leader struct {
	url string

	mu   sync.Mutex
	conn *pgx.Conn // held while leading
}

var _ engine.Leader = (*Leader)(nil)

// NewLeader returns the leader election of the store's database.
func (s *Store) NewLeader() *Leader { return &Leader{url: s.url} }

// Leading reports whether this node holds the lock, after checking that its connection is alive,
// or takes the lock if no node holds it.
func (l *Leader) Leading(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		if err := l.conn.Ping(ctx); err == nil {
			return true, nil
		}
		// The session is gone, and the lock with it: another node may hold it already.
		_ = l.conn.Close(context.WithoutCancel(ctx))
		l.conn = nil
	}
	conn, err := pgx.Connect(ctx, l.url)
	if err != nil {
		return false, fmt.Errorf("leader: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leaderLock).Scan(&got); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return false, fmt.Errorf("leader: %w", err)
	}
	if !got {
		return false, conn.Close(ctx)
	}
	l.conn = conn
	return true, nil
}

// PID is the server process of the leading connection (0 when not leading), so that a test can
// end it as a crash would.
func (l *Leader) PID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return 0
	}
	return l.conn.PgConn().PID()
}

// Close gives up the lead at once, for a clean stop. The lock is released before the session is
// closed: the server releases a closed session's locks only once its process has ended, a moment
// after the client hung up, and another node asking in that moment was refused.
func (l *Leader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Should the unlock fail, closing releases the lock all the same, a moment later.
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, leaderLock)
	err := l.conn.Close(ctx)
	l.conn = nil
	return err
}
