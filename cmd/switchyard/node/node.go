// Package node assembles a Switchyard server: it owns the data dir, opens the store, the plugin
// runtime, the engine, the authenticator and the vendor styles, and serves the HTTP API. It is the
// one place that knows every part; the parts know only what they are given.
package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/api"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/auth"
	"github.com/switchyard/switchyard/engine/metrics"
	"github.com/switchyard/switchyard/engine/outbound"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/builtin"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/sqlite"
)

// Config configures a node: everything `switchyard serve` takes.
type Config struct {
	// Addr is where to listen. Default 127.0.0.1:8080.
	Addr string
	// MetricsAddr, when set, serves Prometheus metrics at /metrics on this address alone, without
	// authentication (bind it where only the scraper reaches). Empty serves them at /metrics on
	// Addr, to the admin token only.
	MetricsAddr string
	// DataDir holds the database, the admin token, keys and the compilation cache. Default ./data.
	DataDir string
	// Database is where the data lives: sqlite://PATH or postgres://... (see ParseDatabase).
	// Default: sqlite:// the file switchyard.db in DataDir.
	Database string
	// NodeID names this node in the leases it takes (engine.Config.NodeID). Default: a random ID
	// for each process, logged at start. Give each node of a shared database a stable ID of its own
	// (its host name) so that, restarted after a crash, it takes its deliveries back at once
	// rather than when their leases end; never give two live nodes the same.
	NodeID string
	// CacheDir keeps compiled plugins between starts. Default DataDir/cache/wazero.
	CacheDir string
	// PublicURL is where receivers reach this node, for the URLs it mints. Default http://Addr, or
	// https://Addr when serving TLS.
	PublicURL string
	// TLSCertFile and TLSKeyFile, when set, make the node serve HTTPS with this certificate chain
	// and key (PEM files). Receivers of SNS-style deliveries fetch certificates over HTTPS only.
	TLSCertFile string
	TLSKeyFile  string
	// AllowPrivate re-opens these otherwise refused ranges to deliveries (tests allow 127.0.0.0/8).
	AllowPrivate []netip.Prefix
	// AdminToken authenticates the operator. Empty: read from DataDir/admin-token, or generated
	// there on first start.
	AdminToken string
	// MaxBodyBytes caps request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// MaxConns caps connections open at once, MaxConnsPerAddr those from one client address (an
	// IPv6 client by its /64); connections beyond are closed as soon as they are accepted. Zero
	// means DefaultMaxConns and DefaultMaxConnsPerAddr, negative no cap.
	MaxConns        int
	MaxConnsPerAddr int
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout reading the whole request,
	// body included, so a client that sends slowly frees its connection. Defaults 10s and 30s.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	// Synchronous is SQLite's synchronous setting: FULL (default) or NORMAL. PostgreSQL ignores it
	// (its own synchronous_commit decides).
	Synchronous string
	// RateLimit and RateBurst limit requests per credential (see auth.Config); zero turns limiting
	// off. `serve` starts with DefaultRateLimit and DefaultRateBurst.
	RateLimit  float64
	RateBurst  int
	Dispatcher engine.DispatcherConfig
	// Runtime configures the plugin runtime: CallTimeout and MemoryLimitMiB are the sandbox's limits.
	Runtime runtime.Config
	// Builtins are the built-in plugins, loaded trusted. Nil: those embedded in the binary. Tests
	// give modules built from the source they test, so that no test runs plugins older than it.
	Builtins []builtin.Module
	// PluginsDir is a folder of custom plugins (.wasm) loaded at start and watched for changes.
	PluginsDir string
	// PluginsPollInterval is how often PluginsDir is scanned. Default 2s.
	PluginsPollInterval time.Duration
	// TrustedPlugins names plugins from PluginsDir that run trusted instead of sandboxed.
	TrustedPlugins []string
	// PluginKeyGrants gives custom plugins, by name, keys they may not sign with by default: the
	// only one is "server", the server's signing key, which receivers of every subscription trust
	// (iVvy's SNS messages). Built-in plugins have it without a grant.
	PluginKeyGrants map[string][]string
	// MaxPluginBytes caps an uploaded module. Default DefaultMaxPluginBytes.
	MaxPluginBytes int64
	// AttemptRetention, DisableAfter and MaxIngestBatch: see engine.Config.
	AttemptRetention time.Duration
	DisableAfter     time.Duration
	MaxIngestBatch   int
	// StyleSettings tune vendor styles, by "<style>.<setting>" (upsales.callback_ttl=72h); each
	// style documents its own and refuses values it cannot use.
	StyleSettings map[string]string
	// Clock defaults to the system clock; tests move time with their own.
	Clock engine.Clock
	// Resolver resolves receiver hostnames; tests give their own.
	Resolver outbound.Resolver
	Logger   *slog.Logger
}

// Rate limits `serve` starts with (a Config left at zero has none).
const (
	DefaultRateLimit = 1000
	DefaultRateBurst = 2000
)

// WithDefaults returns c with unset fields at their defaults. `serve` shows these as its flags'
// defaults, so each default is written once, here or in the part it belongs to.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(c.DataDir, "cache", "wazero")
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = api.DefaultMaxBodyBytes
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.Synchronous == "" {
		c.Synchronous = sqlite.Options{}.WithDefaults().Synchronous
	}
	if c.MaxPluginBytes <= 0 {
		c.MaxPluginBytes = DefaultMaxPluginBytes
	}
	// The parts' own defaults, stated once in each part: a lease left at zero is computed from the
	// timeouts, so it stays zero until the dispatcher knows them.
	lease := c.Dispatcher.Lease
	c.Dispatcher = c.Dispatcher.WithDefaults()
	c.Dispatcher.Lease = lease
	c.Runtime = c.Runtime.WithDefaults()
	e := engine.Config{}.WithDefaults()
	if c.AttemptRetention <= 0 {
		c.AttemptRetention = e.AttemptRetention
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = e.DisableAfter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = engine.SystemClock{}
	}
	if c.NodeID == "" {
		c.NodeID = engine.NewNodeID()
	}
	return c
}

// SharedCacheTTL is how long a node on a shared database trusts a cached credential without
// reading it again, should the notification of its revocation be lost.
const SharedCacheTTL = 30 * time.Second

// Node is one running Switchyard server.
type Node struct {
	cfg     Config
	ln      net.Listener
	store   coreStore
	rt      *runtime.Runtime
	custom  *custom.Manager
	engine  *engine.Engine
	auth    *auth.Authenticator
	server  *api.Server
	http    *http.Server
	metrics *metrics.Metrics
	logger  *slog.Logger
	served  chan error
	stopped atomic.Bool

	// plugins is the engine's registry, empty until boot fills it; builtins are the modules boot
	// loads into it, pluginsLoaded how many it has so far.
	plugins       *engine.Plugins
	builtins      []builtin.Module
	pluginsLoaded atomic.Int32
	// booted is closed when boot ends (bootErr says how); serving is set once it ended well.
	// cancelBoot ends a boot that a Stop overtakes.
	booted     chan struct{}
	bootErr    error
	cancelBoot context.CancelFunc
	serving    atomic.Bool
	lock       *dataDirLock

	// metricsLn and metricsHTTP serve the metrics apart, when Config.MetricsAddr is set.
	metricsLn   net.Listener
	metricsHTTP *http.Server

	// AdminToken is the operator's token; AdminTokenGenerated says it was made on this start, and
	// AdminTokenSavedIn where it is kept.
	AdminToken          string
	AdminTokenGenerated bool
	AdminTokenSavedIn   string
	// ServerKey signs for plugins (sdk.KeyServer); its certificate is served at CertificateURL.
	ServerKey *ServerKey

	// notifier and leader coordinate the nodes of a shared database; nil on SQLite.
	notifier *postgres.Notifier
	leader   *postgres.Leader

	services []engine.Service
	stopOnce sync.Once
	stopErr  error
}

// Open prepares a node: it binds the listening address (so a port in use fails here), opens the
// database and assembles the engine and the API. Start serves, and loads the plugins meanwhile.
func Open(ctx context.Context, cfg Config) (n *Node, err error) {
	cfg = cfg.WithDefaults()
	n = &Node{cfg: cfg, logger: cfg.Logger}
	// Every error return sets n to nil before this runs, so it closes its own copy.
	opened := n
	defer func() {
		if err != nil {
			opened.closeResources()
		}
	}()
	db, err := ParseDatabase(cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	if n.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if n.store, err = openStore(ctx, db, cfg.Synchronous); err != nil {
		return nil, err
	}
	if err := n.loadSecrets(ctx); err != nil {
		return nil, err
	}
	tlsConfig, err := loadTLS(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	if n.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	n.ln = newLimitListener(n.ln, n.connCap(), cfg.MaxConnsPerAddr)
	if cfg.MetricsAddr != "" {
		if n.metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		scheme := "http://"
		if tlsConfig != nil {
			scheme = "https://"
		}
		publicURL = scheme + n.ln.Addr().String()
	}
	n.cfg.PublicURL = strings.TrimRight(publicURL, "/")

	n.metrics = metrics.New(n.store, cfg.Clock, cfg.Logger)
	var (
		notifier engine.Notifier = engine.NewLocalNotifier()
		leader   engine.Leader
		cacheTTL time.Duration
	)
	if pg, ok := n.store.(*postgres.Store); ok {
		n.notifier, n.leader = pg.NewNotifier(cfg.Logger), pg.NewLeader()
		notifier, leader, cacheTTL = n.notifier, n.leader, SharedCacheTTL
	}
	if err := n.preparePlugins(ctx); err != nil {
		return nil, err
	}
	if n.auth, err = auth.New(auth.Config{AdminToken: n.AdminToken, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, Clock: cfg.Clock, Metrics: n.metrics,
		CacheTTL: cacheTTL, RecheckRevocation: cacheTTL > 0}, n.store); err != nil {
		return nil, err
	}
	// Shared by every node on one database: a confirmation URL minted by one is checked by another.
	tokenSecret, err := n.secrets().Secret(tokenSecretFile)
	if err != nil {
		return nil, err
	}
	n.engine, err = engine.New(engine.Config{
		PublicURL: n.cfg.PublicURL, CertificateURL: n.CertificateURL(), Dispatcher: cfg.Dispatcher, TokenSecret: tokenSecret,
		Outbound:         outbound.Config{Guard: outbound.NewGuard(cfg.AllowPrivate, cfg.Resolver)},
		AttemptRetention: cfg.AttemptRetention, DisableAfter: cfg.DisableAfter, MaxIngestBatch: cfg.MaxIngestBatch,
		CredentialRevoked: n.auth.Forget,
		NodeID:            cfg.NodeID, Notifier: notifier, Leader: leader,
		Clock: cfg.Clock, Logger: cfg.Logger, Metrics: n.metrics, Jobs: []*engine.Job{n.metrics.QueueJob()},
	}, n.store, n.plugins)
	if err != nil {
		return nil, err
	}
	n.server = api.NewServer(api.ServerConfig{
		MaxBodyBytes: cfg.MaxBodyBytes, Logger: cfg.Logger, Ready: n.ready, Accepting: n.accepting,
		CertificatePath: n.ServerKey.CertificatePath(), CertificatePEM: n.ServerKey.CertPEM, PublicURL: n.cfg.PublicURL,
	}, n.engine, n.auth)
	api.PluginRoutes(n.server, n.custom)
	api.StatsRoute(n.server, n.metrics)
	if n.metricsLn == nil {
		api.MetricsRoute(n.server, n.metrics.Handler())
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", n.metrics.Handler())
		n.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute,
			ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	}
	if err := n.addStyles(); err != nil {
		return nil, err
	}
	n.http = &http.Server{
		Handler:           n.server,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	return n, nil
}

// loadSecrets reads, or makes on first start, the admin token and the server signing key: from
// the data dir for a node alone on SQLite, from the database for nodes sharing PostgreSQL.
func (n *Node) loadSecrets(ctx context.Context) (err error) {
	var keyGenerated bool
	where := "file " + filepath.Join(n.cfg.DataDir, serverKeyFile)
	if pg, ok := n.store.(*postgres.Store); ok {
		where = "the database"
		n.AdminTokenSavedIn = "the database (shared_secrets)"
		if n.AdminToken, n.AdminTokenGenerated, err = sharedAdminTokenOf(ctx, pg, n.cfg.AdminToken); err != nil {
			return err
		}
		if n.ServerKey, keyGenerated, err = sharedServerKeyOf(ctx, pg, time.Now()); err != nil {
			return err
		}
	} else {
		n.AdminTokenSavedIn = filepath.Join(n.cfg.DataDir, "admin-token")
		if n.AdminToken, n.AdminTokenGenerated, err = adminToken(n.cfg.AdminToken, n.cfg.DataDir); err != nil {
			return err
		}
		if n.ServerKey, keyGenerated, err = LoadOrCreateServerKey(n.cfg.DataDir, time.Now()); err != nil {
			return err
		}
	}
	if keyGenerated {
		n.logger.Info("generated the server signing key", "in", where)
	}
	return nil
}

// loadTLS reads the certificate chain and key to serve HTTPS with; both files or neither.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key: give both a certificate file and a key file, or neither")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert and --tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// preparePlugins makes the plugin runtime, with the compilation cache in the data dir, and the
// managers that boot fills: nothing is compiled yet.
func (n *Node) preparePlugins(ctx context.Context) error {
	rcfg := n.cfg.Runtime
	rcfg.CacheDir = n.cfg.CacheDir
	rcfg.Logger = n.logger
	rcfg.ServerKey = n.ServerKey.Key
	rcfg.ObserveCall = n.metrics.PluginCall
	// The engine is made after the runtime; a quarantine can only begin once it runs.
	rcfg.OnQuarantine = func(plugin string, until time.Time, traps int, lastTrap string) {
		if n.engine != nil {
			n.engine.ReportPluginQuarantined(plugin, until, traps, lastTrap)
		}
	}
	var err error
	if n.rt, err = runtime.New(ctx, rcfg); err != nil {
		return err
	}
	// A copy: loadPlugins lets go of each module's bytes, and tests give every node one list.
	if n.builtins = slices.Clone(n.cfg.Builtins); n.builtins == nil {
		if n.builtins, err = builtin.Modules(); err != nil {
			return err
		}
	}
	n.plugins = engine.NewPlugins()
	return n.prepareCustomPlugins()
}

// loadPlugins compiles and loads the built-in plugins, trusted, then the custom ones.
func (n *Node) loadPlugins(ctx context.Context) error {
	mods := n.builtins
	n.logger.Info("loading plugins", "builtin", len(mods))
	// Compiled at once, one per core: a first start compiles every plugin (a second each), and one
	// after another the first start took as long as all of them together.
	loaded := make([]*runtime.Plugin, len(mods))
	errs := make([]error, len(mods))
	sem := make(chan struct{}, max(1, goruntime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, m := range mods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Built from this repository, and some styles (iVvy) sign with the server's key.
			// Dormant until a delivery needs them: most nodes use one or two of the styles.
			p, err := n.rt.LoadDormantKnown(ctx, m.Source(), knownOf(m), runtime.Trusted, runtime.GrantServerKey)
			if err != nil {
				errs[i] = fmt.Errorf("built-in plugin %s: %w", m.Name, err)
				return
			}
			loaded[i] = p
			n.logger.Info("plugin loaded", "plugin", p.Version(), "mode", p.Mode, "compile", p.CompileTime.Round(time.Millisecond),
				"remembered", p.Remembered, "loaded", n.pluginsLoaded.Add(1), "of", len(mods))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, p := range loaded {
		n.plugins.Put(p)
		n.custom.AddBuiltin(p)
		// The module's bytes are a copy of what the binary embeds, 3-4 MiB each, needed no more
		// once compiled.
		n.builtins[i].Wasm = nil
	}
	if err := n.custom.Load(ctx); err != nil {
		return fmt.Errorf("custom plugins: %w", err)
	}
	return nil
}

// knownOf returns the manifest the build embedded for m, or nil when there is none it can read
// (the plugin is then compiled at start to learn it).
func knownOf(m builtin.Module) *runtime.Known {
	var k runtime.Known
	if m.Known == nil || json.Unmarshal(m.Known, &k) != nil {
		return nil
	}
	return &k
}

// Addr is the address the node listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// URL is the node's public base URL.
func (n *Node) URL() string { return n.cfg.PublicURL }

// CertificateURL is the public URL of the server signing key's certificate.
func (n *Node) CertificateURL() string { return n.cfg.PublicURL + n.ServerKey.CertificatePath() }

// Engine returns the node's engine.
func (n *Node) Engine() *engine.Engine { return n.engine }

// Server returns the node's HTTP layer.
func (n *Node) Server() *api.Server { return n.server }

// Auth returns the node's authenticator.
func (n *Node) Auth() *auth.Authenticator { return n.auth }

// Runtime returns the node's plugin runtime.
func (n *Node) Runtime() *runtime.Runtime { return n.rt }

var _ engine.Service = (*Node)(nil)

// Start opens the port at once and returns; meanwhile boot loads the plugins and starts the
// services (delivery, the plugins folder's watcher). Until boot ends, /readyz answers 503 and the
// API answers every request 503, so that an orchestrator sees a live process that is not ready
// yet, rather than no process for the seconds a first start compiles. WaitReady waits for boot;
// a boot that fails is also sent to Done.
func (n *Node) Start(ctx context.Context) error {
	n.served = make(chan error, 2)
	// Before the first request, which asks accepting about booted.
	loadCtx, cancel := context.WithCancel(ctx)
	n.cancelBoot, n.booted = cancel, make(chan struct{})
	go func() {
		if n.http.TLSConfig != nil {
			n.served <- n.http.ServeTLS(n.ln, "", "")
			return
		}
		n.served <- n.http.Serve(n.ln)
	}()
	if n.metricsHTTP != nil {
		go func() {
			if err := n.metricsHTTP.Serve(n.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.logger.Error("metrics server stopped", "err", err)
			}
		}()
		n.logger.Info("metrics served apart", "addr", n.MetricsAddr())
	}
	n.logger.Info("switchyard serving", "addr", n.Addr(), "public_url", n.cfg.PublicURL, "data_dir", n.cfg.DataDir, "node_id", n.cfg.NodeID)

	go func() {
		defer close(n.booted)
		if n.bootErr = n.boot(ctx, loadCtx); n.bootErr != nil {
			n.served <- n.bootErr
		}
	}()
	return nil
}

// boot loads the plugins and starts the services, then lets the API take requests. Stop cancels
// loadCtx, which ends the loading only: the services get ctx, as Start's caller gave it.
func (n *Node) boot(ctx, loadCtx context.Context) error {
	began := time.Now()
	if err := n.loadPlugins(loadCtx); err != nil {
		return err
	}
	if loadCtx.Err() != nil {
		return fmt.Errorf("stopped while loading plugins: %w", loadCtx.Err())
	}
	services := []engine.Service{n.engine, n.custom}
	if n.notifier != nil {
		// Listening before anything is cached, so that no change made meanwhile is missed.
		services = append([]engine.Service{n.notifier}, services...)
	}
	for i, s := range services {
		if err := s.Start(ctx); err != nil {
			_ = engine.StopInReverse(context.WithoutCancel(ctx), services[:i])
			return err
		}
	}
	n.services = services
	n.serving.Store(true)
	// Compiling the plugins left a heap of garbage the size of their code: given back now, an idle
	// first start holds 200 MiB, not 320.
	debug.FreeOSMemory()
	n.logger.Info("switchyard ready", "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// WaitReady waits until the node takes requests, and says why it never will if its start failed.
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.booted:
		return n.bootErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// accepting says whether the API takes requests yet: not while boot is loading the plugins.
func (n *Node) accepting() error {
	if n.serving.Load() {
		return nil
	}
	e := startingError{loaded: int(n.pluginsLoaded.Load()), of: len(n.builtins)}
	select {
	case <-n.booted:
		e.failed = n.bootErr
	default:
	}
	return e
}

// startingError answers requests that come while the node loads its plugins, or after it failed
// to (until the process exits).
type startingError struct {
	loaded, of int
	failed     error
}

func (e startingError) Error() string {
	if e.failed != nil {
		return "the node failed to start: " + e.failed.Error()
	}
	return fmt.Sprintf("the node is starting: %d of %d built-in plugins loaded; retry in a moment", e.loaded, e.of)
}

func (startingError) Unwrap() error { return engine.ErrUnavailable }

// MetricsAddr is the address metrics are served on apart from the API, or "" when they are served
// at /metrics on Addr.
func (n *Node) MetricsAddr() string {
	if n.metricsLn == nil {
		return ""
	}
	return n.metricsLn.Addr().String()
}

// Done is closed with the serving error if the HTTP server stops on its own.
func (n *Node) Done() <-chan error { return n.served }

func (n *Node) ready(ctx context.Context) error {
	if n.stopped.Load() {
		return errors.New("shutting down")
	}
	if err := n.accepting(); err != nil {
		return err
	}
	if _, err := n.store.GetAccount(ctx, "readyz-probe"); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// Stop stops taking requests (those in progress finish, so every accepted event is committed),
// then stops the services in the reverse of their start order (deliveries in flight get the
// dispatcher's grace period), then closes the database. Safe to call more than once.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.stopped.Store(true)
		if n.booted != nil {
			// A boot still loading ends here: its services, once started, are n.services.
			n.cancelBoot()
			<-n.booted
		}
		var errs []error
		if err := n.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http: %w", err))
		}
		if n.metricsHTTP != nil {
			// Scrapes keep no state worth finishing.
			_ = n.metricsHTTP.Close()
		}
		errs = append(errs, engine.StopInReverse(ctx, n.services))
		n.closeResources()
		n.stopErr = errors.Join(errs...)
	})
	return n.stopErr
}

// closeResources releases what Open took, started or not.
func (n *Node) closeResources() {
	if n.custom != nil {
		_ = n.custom.Stop(context.Background())
	}
	if n.rt != nil {
		_ = n.rt.Close(context.Background())
	}
	if n.notifier != nil {
		_ = n.notifier.Stop(context.Background())
	}
	if n.leader != nil {
		// Closing the session frees the lead at once for another node.
		_ = n.leader.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.logger.Error("close database", "err", err)
		}
	}
	if n.ln != nil {
		_ = n.ln.Close()
	}
	if n.metricsLn != nil {
		_ = n.metricsLn.Close()
	}
	n.lock.release()
}
