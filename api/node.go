package api

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/api/compat"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/outbound"
	"github.com/switchyard/switchyard/plugins/builtin"
	"github.com/switchyard/switchyard/plugins/custom"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/store/sqlite"
)

// Config configures a node: everything `switchyard serve` takes.
type Config struct {
	// Addr is where to listen. Default 127.0.0.1:8080.
	Addr string
	// DataDir holds the database, the admin token, keys and the compilation cache. Default ./data.
	DataDir string
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
	// Synchronous is SQLite's synchronous setting: FULL (default) or NORMAL.
	Synchronous string
	// RateLimit and RateBurst limit requests per credential: see engine.Config.
	RateLimit  float64
	RateBurst  int
	Dispatcher engine.DispatcherConfig
	// Runtime configures the plugin runtime: CallTimeout and MemoryLimitMiB are the sandbox's limits.
	Runtime runtime.Config
	// PluginsDir is a folder of custom plugins (.wasm) loaded at start and watched for changes.
	PluginsDir string
	// PluginsPollInterval is how often PluginsDir is scanned. Default 2s.
	PluginsPollInterval time.Duration
	// TrustedPlugins names plugins from PluginsDir that run trusted instead of sandboxed.
	TrustedPlugins []string
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

// WithDefaults returns c with unset fields at their defaults.
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
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = engine.SystemClock{}
	}
	return c
}

// Node is one running Switchyard server.
type Node struct {
	cfg     Config
	ln      net.Listener
	store   *sqlite.Store
	rt      *runtime.Runtime
	custom  *custom.Manager
	engine  *engine.Engine
	server  *Server
	http    *http.Server
	logger  *slog.Logger
	served  chan error
	stopped atomic.Bool

	// AdminToken is the operator's token; AdminTokenGenerated says it was made on this start.
	AdminToken          string
	AdminTokenGenerated bool
	// ServerKey signs for plugins (sdk.KeyServer); its certificate is served at CertificateURL.
	ServerKey *ServerKey

	shutdownOnce sync.Once
	shutdownErr  error
}

// Open prepares a node: it binds the listening address (so a port in use fails here), opens the
// database, loads the built-in plugins and assembles the engine and the API. Start serves.
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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if n.AdminToken, n.AdminTokenGenerated, err = adminToken(cfg.AdminToken, cfg.DataDir); err != nil {
		return nil, err
	}
	var keyGenerated bool
	if n.ServerKey, keyGenerated, err = LoadOrCreateServerKey(cfg.DataDir, time.Now()); err != nil {
		return nil, err
	}
	if keyGenerated {
		n.logger.Info("generated the server signing key", "file", filepath.Join(cfg.DataDir, serverKeyFile))
	}
	tlsConfig, err := loadTLS(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	if n.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
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

	dbPath := filepath.Join(cfg.DataDir, "switchyard.db")
	if n.store, err = sqlite.Open(ctx, dbPath, sqlite.Options{Synchronous: cfg.Synchronous}); err != nil {
		return nil, fmt.Errorf("open database %s: %w", dbPath, err)
	}
	plugins, err := n.loadPlugins(ctx)
	if err != nil {
		return nil, err
	}
	n.engine, err = engine.New(engine.Config{
		AdminToken: n.AdminToken, PublicURL: n.cfg.PublicURL, CertificateURL: n.CertificateURL(), Dispatcher: cfg.Dispatcher,
		Outbound:         outbound.Config{Guard: outbound.NewGuard(cfg.AllowPrivate, cfg.Resolver)},
		AttemptRetention: cfg.AttemptRetention, DisableAfter: cfg.DisableAfter, MaxIngestBatch: cfg.MaxIngestBatch,
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
		Clock: cfg.Clock, Logger: cfg.Logger,
	}, n.store, plugins)
	if err != nil {
		return nil, err
	}
	n.server = NewServer(ServerConfig{
		MaxBodyBytes: cfg.MaxBodyBytes, Logger: cfg.Logger, Ready: n.ready,
		CertificatePath: n.ServerKey.CertificatePath(), CertificatePEM: n.ServerKey.CertPEM,
	}, n.engine)
	pluginRoutes(n.server, n.custom)
	deps := compat.Deps{Engine: n.engine, Store: n.store, Echo: n.server.Echo(), Logger: cfg.Logger, PublicURL: n.cfg.PublicURL, DataDir: cfg.DataDir, Settings: cfg.StyleSettings}
	for _, install := range styles {
		if err := install(deps); err != nil {
			return nil, fmt.Errorf("install vendor style: %w", err)
		}
	}
	n.http = &http.Server{
		Handler:           n.server,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	return n, nil
}

// loadTLS reads the certificate chain and key to serve HTTPS with; both files or neither.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: give both a certificate file and a key file, or neither")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// loadPlugins loads the built-in plugins, trusted, with the compilation cache in the data dir.
func (n *Node) loadPlugins(ctx context.Context) (*engine.Plugins, error) {
	rcfg := n.cfg.Runtime
	rcfg.CacheDir = n.cfg.CacheDir
	rcfg.Logger = n.logger
	rcfg.ServerKey = n.ServerKey.Key
	var err error
	if n.rt, err = runtime.New(ctx, rcfg); err != nil {
		return nil, err
	}
	mods, err := builtin.Modules()
	if err != nil {
		return nil, err
	}
	plugins := engine.NewPlugins()
	var loaded []*runtime.Plugin
	for _, m := range mods {
		p, err := n.rt.Load(ctx, m.Wasm, runtime.Trusted)
		if err != nil {
			return nil, fmt.Errorf("built-in plugin %s: %w", m.Name, err)
		}
		plugins.Put(p)
		loaded = append(loaded, p)
		n.logger.Info("plugin loaded", "plugin", p.Version(), "mode", p.Mode, "compile", p.CompileTime.Round(time.Millisecond))
	}
	return plugins, n.openCustomPlugins(ctx, plugins, loaded)
}

// adminToken returns the configured token, else the one in the data dir, else a new one written
// there (mode 0600) for the operator to read once.
func adminToken(configured, dataDir string) (token string, generated bool, err error) {
	if configured != "" {
		return configured, false, nil
	}
	path := filepath.Join(dataDir, "admin-token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", false, err
	}
	token = "sya_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	return token, true, nil
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
func (n *Node) Server() *Server { return n.server }

// Runtime returns the node's plugin runtime.
func (n *Node) Runtime() *runtime.Runtime { return n.rt }

// Start starts delivery and serving. It returns once the node is serving.
func (n *Node) Start(ctx context.Context) error {
	if err := n.engine.Start(ctx); err != nil {
		return err
	}
	n.custom.Start()
	n.served = make(chan error, 1)
	go func() {
		if n.http.TLSConfig != nil {
			n.served <- n.http.ServeTLS(n.ln, "", "")
			return
		}
		n.served <- n.http.Serve(n.ln)
	}()
	n.logger.Info("switchyard serving", "addr", n.Addr(), "public_url", n.cfg.PublicURL, "data_dir", n.cfg.DataDir)
	return nil
}

// Done is closed with the serving error if the HTTP server stops on its own.
func (n *Node) Done() <-chan error { return n.served }

func (n *Node) ready(ctx context.Context) error {
	if n.stopped.Load() {
		return errors.New("shutting down")
	}
	if _, err := n.store.GetAccount(ctx, "readyz-probe"); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// Shutdown stops taking requests (those in progress finish, so every accepted event is committed),
// then stops delivery, letting deliveries in flight finish within the dispatcher's grace period,
// then closes the database. Safe to call more than once.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() {
		n.stopped.Store(true)
		var errs []error
		if err := n.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http: %w", err))
		}
		if err := n.engine.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop engine: %w", err))
		}
		n.closeResources()
		n.shutdownErr = errors.Join(errs...)
	})
	return n.shutdownErr
}

func (n *Node) closeResources() {
	if n.custom != nil {
		n.custom.Stop()
	}
	if n.rt != nil {
		_ = n.rt.Close(context.Background())
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.logger.Error("close database", "err", err)
		}
	}
	if n.ln != nil {
		_ = n.ln.Close()
	}
}
