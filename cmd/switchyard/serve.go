package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
)

// envPrefix names the environment variable of each flag: --data-dir is SWITCHYARD_DATA_DIR.
const envPrefix = "SWITCHYARD_"

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newEnvFlagSet("serve", stdout, stderr)
	// Every flag's default is the configuration's own, so a default is written in one place.
	cfg := node.Config{RateLimit: node.DefaultRateLimit, RateBurst: node.DefaultRateBurst}.WithDefaults()
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this address alone, without a token (bind it where only the scraper reaches); empty: at /metrics on --addr, to the admin token")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "folder for the database, admin token, keys and caches")
	fs.StringVar(&cfg.Database, "database", cfg.Database, databaseUsage)
	fs.StringVar(&cfg.NodeID, "node-id", "", "this node's name in the leases it takes (default: a random ID per process); on a shared database give each node a stable one of its own, so a node restarted after a crash takes its deliveries back at once")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "base URL receivers reach this server at (default http://ADDR, or https://ADDR with --tls-cert)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "serve HTTPS with this certificate chain (PEM file); needs --tls-key")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "the private key of --tls-cert (PEM file)")
	allowPrivate := fs.String("allow-private", "", "comma-separated CIDRs that deliveries may reach despite being private, e.g. 127.0.0.0/8")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "operator token (default: DATA_DIR/admin-token, generated on first start)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body", cfg.MaxBodyBytes, "largest request body accepted, in bytes")
	fs.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "connections open at once; more are closed as soon as accepted (negative: no cap; lowered to fit the open-files limit)")
	fs.IntVar(&cfg.MaxConnsPerAddr, "max-conns-per-addr", cfg.MaxConnsPerAddr, "connections open at once from one client address (IPv6: one /64); behind a reverse proxy raise it or set it negative (no cap)")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "time a client has to send a request's headers")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "time a client has to send a whole request, body included")
	fs.StringVar(&cfg.Synchronous, "sqlite-synchronous", cfg.Synchronous, "SQLite synchronous mode: FULL survives power loss, NORMAL only process crashes")
	fs.DurationVar(&cfg.Dispatcher.DeliveryTimeout, "delivery-timeout", cfg.Dispatcher.DeliveryTimeout, "time a receiver has to answer")
	formatTimeouts := fs.String("format-timeouts", "", "per-format delivery timeouts, e.g. upsales=30s,standard=5s")
	styleSettings := fs.String("style-settings", "", "settings of vendor styles, e.g. upsales.callback_ttl=72h,upsales.widget_timeout=5s")
	fs.IntVar(&cfg.Dispatcher.Concurrency, "concurrency", cfg.Dispatcher.Concurrency, "deliveries in flight at once")
	fs.IntVar(&cfg.Dispatcher.MaxPerSubscription, "max-per-subscription", cfg.Dispatcher.MaxPerSubscription, "deliveries of one subscription in flight at once; seven times as many more may wait in memory, then in the store")
	fs.IntVar(&cfg.Dispatcher.MaxPerHost, "max-per-host", cfg.Dispatcher.MaxPerHost, "deliveries to one destination host (any port) in flight at once; three times as many more may wait in memory, then in the store")
	fs.Int64Var(&cfg.Dispatcher.MaxQueuedBytes, "max-queued-bytes", cfg.Dispatcher.MaxQueuedBytes, "memory the deliveries waiting over a cap may hold, in bytes, in all; a host a quarter of it, a subscription an eighth; more wait in the store")
	fs.IntVar(&cfg.Dispatcher.BreakerThreshold, "breaker-threshold", cfg.Dispatcher.BreakerThreshold, "attempts in a row timing out that open a subscription's circuit")
	fs.DurationVar(&cfg.Dispatcher.BreakerCooldown, "breaker-cooldown", cfg.Dispatcher.BreakerCooldown, "how long an open circuit holds deliveries back before a probe; doubled by each failed probe")
	fs.DurationVar(&cfg.Dispatcher.BreakerMaxCooldown, "breaker-max-cooldown", cfg.Dispatcher.BreakerMaxCooldown, "the longest an open circuit holds deliveries back")
	fs.DurationVar(&cfg.Dispatcher.MaxPluginTimeout, "max-plugin-delivery-timeout", cfg.Dispatcher.MaxPluginTimeout, "cap on the delivery_timeout_ms a sandboxed plugin's manifest may ask for")
	fs.DurationVar(&cfg.Dispatcher.Lease, "lease", cfg.Dispatcher.Lease, "how long a claimed delivery stays claimed (default: twice the longest timeout plus a minute)")
	fs.DurationVar(&cfg.Dispatcher.ShutdownGrace, "grace", cfg.Dispatcher.ShutdownGrace, "on SIGTERM, time deliveries in flight get to finish")
	fs.DurationVar(&cfg.AttemptRetention, "retention", cfg.AttemptRetention, "how long attempts are kept")
	fs.DurationVar(&cfg.DisableAfter, "disable-after", cfg.DisableAfter, "disable subscriptions failing for this long without a success")
	fs.DurationVar(&cfg.Runtime.CallTimeout, "plugin-timeout", cfg.Runtime.CallTimeout, "deadline of one call into a sandboxed plugin")
	fs.DurationVar(&cfg.Runtime.StartTimeout, "plugin-start-timeout", cfg.Runtime.StartTimeout, "deadline for starting a sandboxed plugin instance")
	fs.IntVar(&cfg.Runtime.MemoryLimitMiB, "plugin-memory", cfg.Runtime.MemoryLimitMiB, "memory cap of one plugin instance, in MiB")
	fs.DurationVar(&cfg.Runtime.AcquireWait, "plugin-wait", cfg.Runtime.AcquireWait, "longest a delivery waits for a free instance of its plugin before it is put back for a little later (no attempt counted)")
	fs.IntVar(&cfg.Runtime.QuarantineAfter, "plugin-quarantine-after", cfg.Runtime.QuarantineAfter, "calls in a row into a sandboxed plugin that must trap before it is quarantined (negative: never)")
	fs.DurationVar(&cfg.Runtime.QuarantineFor, "plugin-quarantine-for", cfg.Runtime.QuarantineFor, "how long a quarantined plugin's deliveries wait before one probes it")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "requests per second one credential may make (0: no limit); beyond it, 429 with Retry-After")
	fs.IntVar(&cfg.RateBurst, "rate-burst", cfg.RateBurst, "requests one credential may make at once before the rate limit applies")
	fs.StringVar(&cfg.PluginsDir, "plugins-dir", "", "folder of custom plugins (.wasm): loaded at start, new and changed files picked up while serving")
	trustedPlugins := fs.String("trusted-plugins", "", "comma-separated names of plugins from --plugins-dir to run trusted (no per-call deadline)")
	keyGrants := fs.String("plugin-key-grants", "", "keys custom plugins may sign with beyond their subscription's own, as NAME=KEY pairs, e.g. myivvy=server (the server's signing key; built-in plugins have it)")
	fs.Int64Var(&cfg.MaxPluginBytes, "max-plugin-bytes", cfg.MaxPluginBytes, "largest plugin module PUT /v1/plugins/NAME accepts, in bytes")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text (logfmt) or json (one object per line)")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060; off when empty. Never expose it: it has no authentication")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	// Derived from the data dir, which the flags may have changed: Open derives it again.
	cfg.CacheDir = ""
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	var err error
	if cfg.AllowPrivate, err = parsePrefixes(*allowPrivate); err != nil {
		return fmt.Errorf("%w: --allow-private: %v", errUsage, err)
	}
	if cfg.Dispatcher.FormatTimeouts, err = parseDurations(*formatTimeouts); err != nil {
		return fmt.Errorf("%w: --format-timeouts: %v", errUsage, err)
	}
	for _, name := range strings.Split(*trustedPlugins, ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.TrustedPlugins = append(cfg.TrustedPlugins, name)
		}
	}
	if cfg.PluginKeyGrants, err = parseKeyGrants(*keyGrants); err != nil {
		return fmt.Errorf("%w: --plugin-key-grants: %v", errUsage, err)
	}
	if cfg.StyleSettings, err = parseSettings(*styleSettings); err != nil {
		return fmt.Errorf("%w: --style-settings: %v", errUsage, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch *logFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return fmt.Errorf("%w: --log-format %q: want text or json", errUsage, *logFormat)
	}

	if *pprofAddr != "" {
		stopProfiler, err := serveProfiler(*pprofAddr, cfg.Logger)
		if err != nil {
			return fmt.Errorf("--pprof-addr: %w", err)
		}
		defer stopProfiler()
	}
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return err
	}
	if n.AdminTokenGenerated {
		fmt.Fprintf(stdout, "Generated an admin token; it is saved in %s and shown only this once:\n\n  %s\n\n", n.AdminTokenSavedIn, n.AdminToken)
	}
	if err := n.Start(ctx); err != nil {
		_ = n.Stop(context.Background())
		return err
	}
	var served error
	select {
	case <-ctx.Done():
		cfg.Logger.Info("stopping: no new work is claimed; deliveries in flight get the grace period", "grace", cfg.Dispatcher.ShutdownGrace)
	case served = <-n.Done():
		// A plugin that does not load, or a port that stops serving: the exit status says so.
		cfg.Logger.Error("server stopped", "err", served)
	}
	// A second signal during shutdown is not awaited: the grace period bounds the wait.
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Dispatcher.ShutdownGrace+30*time.Second)
	defer cancel()
	return errors.Join(served, n.Stop(stopCtx))
}

// serveProfiler serves net/http/pprof on its own listener, apart from the API, so that profiling
// never shares the API's middleware, rate limits or address.
func serveProfiler(addr string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("profiler stopped", "err", err)
		}
	}()
	logger.Info("profiler listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

const databaseUsage = "where the data lives: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB (default: sqlite:// the data dir's switchyard.db)"

// runMigrate brings the database schema up to date and exits.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newEnvFlagSet("migrate", stdout, stderr)
	dataDir := fs.String("data-dir", node.Config{}.WithDefaults().DataDir, "folder of the database")
	database := fs.String("database", "", databaseUsage)
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if err := node.Migrate(ctx, *dataDir, *database); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}

// parseWithEnv parses flags; a flag not given on the command line takes its SWITCHYARD_*
// environment variable, if set.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok && !given[f.Name] && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%w: %s: %v", errUsage, env, serr)
			}
		}
	})
	return err
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			addr, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return nil, err
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parseSettings reads "style.name=value,..." pairs; values are checked by the style that owns them.
func parseSettings(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		key = strings.TrimSpace(key)
		if style, name, dotted := strings.Cut(key, "."); !ok || !dotted || style == "" || name == "" {
			return nil, fmt.Errorf("%q is not STYLE.SETTING=VALUE", part)
		}
		out[key] = strings.TrimSpace(value)
	}
	return out, nil
}

// parseKeyGrants reads "name=key,..." pairs; the node refuses keys that cannot be granted.
func parseKeyGrants(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, key, ok := strings.Cut(part, "=")
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		if !ok || name == "" || key == "" {
			return nil, fmt.Errorf("%q is not PLUGIN=KEY", part)
		}
		out[name] = append(out[name], key)
	}
	return out, nil
}

func parseDurations(s string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, dur, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not FORMAT=DURATION", part)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q: a positive duration such as 30s", part)
		}
		out[strings.TrimSpace(name)] = d
	}
	return out, nil
}

func runCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newEnvFlagSet("copy", stdout, stderr)
	dataDir := fs.String("data-dir", node.Config{}.WithDefaults().DataDir, "the stopped node's data dir: its database, secrets and uploaded plugins")
	from := fs.String("from", "", "the SQLite database (default: the data dir's switchyard.db)")
	to := fs.String("to", "", "the empty PostgreSQL database, postgres://...")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%w: copy needs --to postgres://...", errUsage)
	}
	r, err := node.Copy(ctx, *dataDir, *from, *to)
	if err != nil {
		return err
	}
	var tables []string
	for t, n := range r.Rows {
		tables = append(tables, fmt.Sprintf("%s %d", t, n))
	}
	sort.Strings(tables)
	fmt.Fprintf(stdout, "copied: %s\nsecrets: %s\nplugins: %d; deliveries in flight made due again: %d\n",
		strings.Join(tables, ", "), strings.Join(r.Secrets, ", "), len(r.Plugins), r.Released)
	return nil
}
