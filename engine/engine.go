package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard/switchyard/engine/outbound"
)

// Config configures an Engine. WithDefaults fills in what is unset.
type Config struct {
	// PublicURL is where receivers reach this server, for the URLs the engine mints.
	PublicURL string
	// CertificateURL serves the certificate of the server's signing key, when there is one.
	CertificateURL string
	Dispatcher     DispatcherConfig
	Outbound       outbound.Config
	// AttemptRetention is how long attempts are kept. Default 30 days.
	AttemptRetention time.Duration
	// DisableAfter disables a subscription whose deliveries have failed, without a success, for
	// this long. Default 5 days.
	DisableAfter time.Duration
	// MaxIngestBatch is the most events committed in one transaction. Default 1000.
	MaxIngestBatch int
	// IngestLinger is the longest a group of published events with fewer requests than the last
	// group (of four or more) waits for more before it commits (see ingester). Default 2ms;
	// negative never waits.
	IngestLinger time.Duration
	// CredentialRevoked is told of every credential revocation, before it is committed and after,
	// so that whoever caches credentials (package auth) never lets a revoked one through.
	CredentialRevoked func(id string)
	// TokenSecret is the node secret the tokens of confirmation URLs are derived from (see
	// CapabilityKey); it must stay the same across restarts, or the URLs already sent stop
	// working. Empty: a random one for the life of the process.
	TokenSecret []byte
	// Metrics is told of attempts, commits and refusals (see Metrics). Default NopMetrics.
	Metrics Metrics
	// Jobs are the node's own, run by the scheduler beside the maintenance jobs (the metrics'
	// sample of the queue each minute).
	Jobs []*Job
	// NodeID names this node in the leases it takes (Delivery.LeaseOwner). Default: a random ID,
	// new for every process. On a SharedStore, Start recovers only this ID's leases, so a node
	// given a stable ID hands its own leases back at once when it restarts after a crash; two live
	// nodes must never share one.
	NodeID string
	// Notifier carries changes between the nodes of one database (CredentialRevoked is
	// subscribed to TopicCredentialRevoked). Default: a LocalNotifier, this process only.
	Notifier Notifier
	// Leader decides whether this node runs the maintenance jobs. Nil: it always does, as a node
	// alone on its database.
	Leader Leader
	Clock  Clock
	Logger *slog.Logger
}

// WithDefaults returns c with unset fields at their defaults.
func (c Config) WithDefaults() Config {
	c.Dispatcher = c.Dispatcher.WithDefaults()
	// As many kept-alive connections to one receiver as deliveries may be in flight to it: with
	// fewer, a burst to one receiver dialed anew for every delivery beyond them, and closed the
	// connection after (12% of the server's CPU in a 5,000 deliveries/s run).
	if c.Outbound.MaxIdleConnsPerHost <= 0 {
		c.Outbound.MaxIdleConnsPerHost = c.Dispatcher.Concurrency
	}
	c.Outbound = c.Outbound.WithDefaults()
	if c.AttemptRetention <= 0 {
		c.AttemptRetention = 30 * 24 * time.Hour
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = 5 * 24 * time.Hour
	}
	if c.IngestLinger == 0 {
		c.IngestLinger = 2 * time.Millisecond
	}
	if c.MaxIngestBatch <= 0 {
		c.MaxIngestBatch = 1000
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NopMetrics{}
	}
	if c.NodeID == "" {
		c.NodeID = NewNodeID()
	}
	if c.Notifier == nil {
		c.Notifier = NewLocalNotifier()
	}
	return c
}

// Engine is Switchyard's domain service: the API calls it, and it runs delivery in the background.
type Engine struct {
	cfg     Config
	store   Store
	plugins *Plugins
	guard   *outbound.Guard
	client  *outbound.Client
	clock   Clock
	logger  *slog.Logger
	styles  *styleHooks
	// confirmKey mints the tokens of confirmation URLs.
	confirmKey CapabilityKey
	router     *router

	ingester   *ingester
	dispatcher *dispatcher
	jobs       []*Job
	scoped     []ScopedStyle
	scheduler  *scheduler

	operational *operational

	mu       sync.Mutex
	started  bool
	stopped  bool
	services []Service
	// accounts are the ids of accounts known to exist; accounts are never deleted.
	accounts sync.Map
}

// New returns an engine over store and plugins. Start it to deliver.
func New(cfg Config, store Store, plugins *Plugins) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if cfg.Outbound.Guard == nil {
		return nil, errors.New("engine: outbound.Config.Guard is required")
	}
	e := &Engine{
		cfg: cfg, store: store, plugins: plugins, guard: cfg.Outbound.Guard, clock: cfg.Clock, logger: cfg.Logger,
		confirmKey: NewCapabilityKey(cfg.TokenSecret, "subscription confirmation"),
	}
	e.styles = &styleHooks{publicURL: cfg.PublicURL, certificateURL: cfg.CertificateURL, confirmKey: e.confirmKey,
		names: map[string]bool{}, byFormat: map[string]StyleHooks{}}
	e.client = outbound.NewClient(cfg.Outbound)
	e.router = &router{plugins: plugins, now: e.clock.Now}
	e.dispatcher = newDispatcher(cfg.Dispatcher, store, plugins, e.client, e.clock, e.logger, e.styles)
	e.ingester = newIngester(store, e.router.route, cfg.MaxIngestBatch, cfg.IngestLinger, e.dispatcher, e.clock, e.logger)
	e.dispatcher.metrics, e.ingester.metrics = cfg.Metrics, cfg.Metrics
	e.dispatcher.owner, e.ingester.owner = cfg.NodeID, cfg.NodeID
	e.operational = newOperational(e)
	e.dispatcher.report = e.operational.report
	e.jobs = append(e.maintenanceJobs(), cfg.Jobs...)
	if cfg.CredentialRevoked != nil {
		cfg.Notifier.Subscribe(TopicCredentialRevoked, cfg.CredentialRevoked)
	}
	return e, nil
}

// NewNodeID returns a random node ID, for a node not given one.
func NewNodeID() string { return "node_" + randomToken(9) }

// NodeID is the ID this node's leases carry.
func (e *Engine) NodeID() string { return e.cfg.NodeID }

// Plugins returns the loaded formats.
func (e *Engine) Plugins() *Plugins { return e.plugins }

// Guard returns the SSRF guard, for styles that check URLs of their own.
func (e *Engine) Guard() *outbound.Guard { return e.guard }

// AttemptRetention is how long attempts are kept; styles that keep logs of their own keep them as
// long.
func (e *Engine) AttemptRetention() time.Duration { return e.cfg.AttemptRetention }

// Clock returns the engine's clock.
func (e *Engine) Clock() Clock { return e.clock }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.logger }

// Client returns the outbound HTTP client, for styles that call receivers outside deliveries.
func (e *Engine) Client() *outbound.Client { return e.client }

// Notify wakes the dispatcher: something made deliveries due.
func (e *Engine) Notify() { e.dispatcher.notify() }

func (e *Engine) maintenanceJobs() []*Job {
	extend := func(ctx context.Context, now time.Time) error {
		return e.store.ExtendLeases(ctx, e.dispatcher.runningIDs(), now.Add(e.cfg.Dispatcher.Lease))
	}
	return []*Job{
		// Every node extends the leases of its own running attempts: a receiver may take longer
		// than a lease to answer, and a delivery recovered under its attempt is sent twice at once.
		{Name: "extend-leases", Spec: "@every 30s", EveryNode: true, Run: extend},
		{Name: "recover-leases", Spec: "@every 30s", Run: func(ctx context.Context, now time.Time) error {
			// The leader's own first, as extend-leases may not have run yet at this tick.
			if err := extend(ctx, now); err != nil {
				return err
			}
			n, err := e.store.RecoverLeases(ctx, RecoverLeasesParams{ExpiredBefore: now, DueAt: now})
			if n > 0 {
				e.logger.Warn("recovered expired leases", "deliveries", n)
				e.dispatcher.notify()
			}
			return err
		}},
		{Name: "purge-attempts", Spec: "@every 1h", Run: func(ctx context.Context, now time.Time) error {
			n, err := e.store.PurgeAttempts(ctx, now.Add(-e.cfg.AttemptRetention))
			if n > 0 {
				e.logger.Info("purged old attempts", "attempts", n)
			}
			// Expired portal links and sessions, which no request can use any more; until then an
			// expired link is still told apart from a made-up one.
			p, perr := e.store.PurgePortal(ctx, now)
			if p > 0 {
				e.logger.Info("purged expired portal links and sessions", "entries", p)
			}
			return errors.Join(err, perr)
		}},
		{Name: "disable-failing", Spec: "@every 10m", Run: func(ctx context.Context, now time.Time) error {
			ids, err := e.store.DisableFailing(ctx, DisableFailingParams{
				FailingSince: now.Add(-e.cfg.DisableAfter), Now: now,
				Reason: fmt.Sprintf("deliveries failed for %s without a success", e.cfg.DisableAfter),
			})
			for _, id := range ids {
				e.logger.Warn("disabled failing subscription", "subscription", id)
				e.cfg.Metrics.SubscriptionDisabled(DisabledFailing)
				if s, err := e.store.GetSubscription(ctx, id); err == nil && s.AccountID != SystemAccount {
					e.operational.report(EventSubscriptionDisabled, "subscription", id, map[string]any{"subscription_id": id,
						"account_id": s.AccountID, "reason": s.DisabledReason})
				}
			}
			return err
		}},
	}
}

var _ Service = (*Engine)(nil)

// forever is a lease end later than any lease: RecoverLeases before it recovers every lease.
const forever = 100 * 365 * 24 * time.Hour

// Start begins delivering. A single node owns its database, so deliveries a previous run left in
// flight (it crashed, or was killed) are due again at once, not when their leases end. On a
// SharedStore the other nodes' leases are theirs: only those this node ID holds are recovered at
// once (a previous run under the same ID), and the rest when they expire, by the leader.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return nil
	}
	now := e.clock.Now()
	p := RecoverLeasesParams{ExpiredBefore: now.Add(forever), DueAt: now}
	if shared(e.store) {
		p.Owner = e.cfg.NodeID
	}
	n, err := e.store.RecoverLeases(ctx, p)
	if err != nil {
		return fmt.Errorf("recover leases of the previous run: %w", err)
	}
	if n > 0 {
		e.logger.Warn("deliveries left in flight by the previous run are due again", "deliveries", n, "node", e.cfg.NodeID)
	}
	sched, err := newScheduler(e.clock, e.logger, e.jobs, e.cfg.Leader)
	if err != nil {
		return err
	}
	e.scheduler = sched
	// The dispatcher first: the ingester hands it fresh deliveries. Stop goes in reverse.
	if err := e.ensureSystemAccount(ctx); err != nil {
		return fmt.Errorf("the system account: %w", err)
	}
	e.services = []Service{e.dispatcher, e.ingester, e.operational, e.scheduler}
	for i, s := range e.services {
		if err := s.Start(ctx); err != nil {
			_ = StopInReverse(ctx, e.services[:i])
			return err
		}
	}
	e.started = true
	return nil
}

// Stop stops claiming work, lets deliveries in flight finish within the dispatcher's grace period,
// and records every outcome. Events already accepted stay stored; they are delivered on the next
// Start. Safe to call twice.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started || e.stopped {
		return nil
	}
	e.stopped = true
	err := StopInReverse(ctx, e.services)
	e.client.Close()
	// The dispatcher gave back what it cut off; a lease it could not give back or record (the
	// database failed a write) would otherwise wait to expire while other nodes could send it.
	// Nothing of this node runs any more, so every lease it holds is free.
	now := e.clock.Now()
	n, rerr := e.store.RecoverLeases(context.WithoutCancel(ctx), RecoverLeasesParams{ExpiredBefore: now.Add(forever), DueAt: now, Owner: e.cfg.NodeID})
	if n > 0 {
		e.logger.Warn("released leases left at stop", "deliveries", n, "node", e.cfg.NodeID)
	}
	if rerr != nil {
		err = errors.Join(err, fmt.Errorf("release this node's leases: %w", rerr))
	}
	return err
}

// Principal is who is calling: the operator, or an app through one of its credentials.
type Principal struct {
	Admin      bool
	Credential *Credential
	App        *App
}

// HasScope reports whether the principal may act with scope: the operator always may.
func (p *Principal) HasScope(scope string) bool {
	if p.Admin {
		return true
	}
	for _, s := range p.Credential.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// ownsApp reports whether the principal may see and touch what belongs to appID.
func (p *Principal) ownsApp(appID string) bool { return p.Admin || (p.App != nil && p.App.ID == appID) }

// boundAccount is the account whose grant the principal's credential is, or "" for the operator
// and for a credential of its whole app.
func (p *Principal) boundAccount() string {
	if p.Credential == nil {
		return ""
	}
	return p.Credential.AccountID
}

// owns reports whether the principal may see and touch what appID has in accountID. A credential
// one account granted (an access token, a company's API key) reaches that account's data only,
// though its app has data in others: a grant from one tenant must not open another's.
func (p *Principal) owns(appID, accountID string) bool {
	bound := p.boundAccount()
	return p.ownsApp(appID) && (bound == "" || bound == accountID)
}

// accountScope is the account a query of the caller's own is limited to: the one its credential
// was granted by, whatever the query asks, which may not name another.
func (p *Principal) accountScope(asked string) (string, error) {
	bound := p.boundAccount()
	switch {
	case bound == "":
		return asked, nil
	case asked != "" && asked != bound:
		return "", fmt.Errorf("this credential was granted by account %s only: %w", bound, ErrForbidden)
	}
	return bound, nil
}

// HashSecret is how credential secrets are stored. They are 256-bit random strings, so a plain
// SHA-256 is enough: there is nothing for a slow password hash to protect against.
func HashSecret(secret string) []byte {
	d := sha256.Sum256([]byte(secret))
	return d[:]
}
