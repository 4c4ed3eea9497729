// Package custom manages a node's custom plugins: the ones operators upload through the admin API
// and the ones they drop into a plugins folder. It validates a module before it serves (see
// Validate), keeps uploads in the data folder so they survive restarts, watches the plugins folder
// for new and changed files, and swaps versions atomically: deliveries that hold the old version
// finish with it, and later ones get the new one (engine.Plugins.Acquire and Retire).
//
// Custom plugins run sandboxed (a deadline on every call, and the memory cap) unless the operator
// marks one trusted. Built-in plugins are listed here too, but cannot be replaced or removed.
package custom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/sdk"
)

// Source is where a plugin came from.
type Source string

const (
	SourceBuiltin Source = "builtin" // embedded in the binary
	SourceUpload  Source = "upload"  // PUT /v1/plugins/{name}, kept in the data folder
	SourceDir     Source = "dir"     // a .wasm file in the plugins folder
)

// ErrNotCustom is wrapped when a change names a plugin that only its own source may change.
var ErrNotCustom = errors.New("plugin is not managed through the API")

// Config configures a Manager.
type Config struct {
	// StoreDir keeps uploaded modules, unless Uploads is set. One of them is required for uploads.
	StoreDir string
	// Uploads, when set, keeps uploaded modules in the database nodes share, instead of StoreDir:
	// a plugin uploaded or deleted through one node is then loaded or removed on every node, as
	// Notifier tells them, and at the latest after SyncInterval.
	Uploads  engine.PluginStore
	Notifier engine.Notifier
	// SyncInterval is how often a node with Uploads compares what it runs with what is stored,
	// should a notification be lost. Default 30s.
	SyncInterval time.Duration
	// Dir is the plugins folder to load .wasm files from and watch; empty for none.
	Dir string
	// PollInterval is how often Dir is scanned. Default 2s.
	PollInterval time.Duration
	// Trusted names plugins from Dir that run trusted.
	Trusted []string
	// KeyGrants gives plugins, by name, keys beyond the default ones (runtime.GrantServerKey),
	// whether they are uploaded or in Dir. Built-in plugins have them all already.
	KeyGrants map[string][]runtime.Grant
	// MaxModuleBytes caps an uploaded module. Default 32 MiB.
	MaxModuleBytes int64
	// SubscriptionsLimit is how many subscriptions a refusal to delete names. Default 20.
	SubscriptionsLimit int
	Logger             *slog.Logger
}

// WithDefaults returns c with unset fields at their defaults.
func (c Config) WithDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 30 * time.Second
	}
	if c.MaxModuleBytes <= 0 {
		c.MaxModuleBytes = 32 << 20
	}
	if c.SubscriptionsLimit <= 0 {
		c.SubscriptionsLimit = 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Manager owns the custom plugins of one node. It is safe for concurrent use; changes are
// serialised, so two uploads of one name never interleave.
type Manager struct {
	cfg     Config
	rt      *runtime.Runtime
	plugins *engine.Plugins
	store   engine.Store

	// mu serialises changes and guards entries.
	mu      sync.Mutex
	entries map[string]*entry
	dir     *dirWatcher

	// watch scans the plugins folder for changes while the node serves.
	watch engine.Loop
	// sync loads what other nodes uploaded or deleted (Config.Uploads); changed holds the names
	// notified since its last pass, engine.Reset for all.
	sync      engine.Loop
	changedMu sync.Mutex
	changed   map[string]bool
	wake      chan struct{}
}

// entry is one loaded plugin and where it came from.
type entry struct {
	plugin   *runtime.Plugin
	source   Source
	file     string // for SourceDir: the file it was loaded from
	loadedAt time.Time
}

// Info describes a loaded plugin.
type Info struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Module identifies the exact module, as attempts record it: name@version#hash prefix.
	Module string `json:"module"`
	// Hash is the hex SHA-256 of the module's bytes.
	Hash   string `json:"hash"`
	Mode   string `json:"mode"`
	Source Source `json:"source"`
	// KeyGrants are the keys beyond the default ones the plugin may sign with ("server").
	KeyGrants []runtime.Grant `json:"key_grants"`
	File      string          `json:"file,omitempty"`
	Events    []sdk.EventType `json:"events"`
	Hooks     []string        `json:"hooks"`
	Options   []sdk.Option    `json:"options,omitempty"`
	LoadedAt  time.Time       `json:"loaded_at"`
	// Quarantine is set while the plugin is quarantined (see Quarantine).
	Quarantine *Quarantine `json:"quarantine,omitempty"`
	// Stats count the calls into this version since it was loaded, the dry run that validated it
	// included. Only the operator sees them.
	Stats *Stats `json:"stats,omitempty"`
}

// Quarantine describes a sandboxed plugin whose calls trapped (timed out, ran out of memory,
// panicked, returned garbage) too many times in a row. Until Until, its deliveries wait in the
// store, none dropped and no attempt counted; then one delivery probes it, and a probe that traps
// again quarantines it again. Uploading a new version ends it.
type Quarantine struct {
	Until            time.Time `json:"until"`
	ConsecutiveTraps int       `json:"consecutive_traps"`
	// LastTrap is why the last trapping call failed. Only the operator sees it: it may quote
	// another tenant's event.
	LastTrap string `json:"last_trap,omitempty"`
}

// Stats are a plugin version's counters.
type Stats struct {
	Calls int64 `json:"calls"`
	// Errors counts calls that failed: errors the plugin returned plus traps.
	Errors       int64 `json:"errors"`
	PluginErrors int64 `json:"plugin_errors"`
	Traps        int64 `json:"traps"`
	Instances    int   `json:"instances"`
	// InUse calls hold an instance, of at most Capacity at once; Waiting calls wait for one (at
	// most the runtime's acquire wait, after which the delivery is put back for a little later).
	InUse    int `json:"in_use"`
	Capacity int `json:"capacity"`
	Waiting  int `json:"waiting"`
	// Refused counts calls that ran nothing: no instance came free in time, or quarantined.
	Refused int64 `json:"refused"`
	// ConsecutiveTraps counts the calls in a row that trapped; Quarantines how often the plugin
	// was quarantined.
	ConsecutiveTraps int   `json:"consecutive_traps"`
	Quarantines      int64 `json:"quarantines"`
}

// New returns a manager over the runtime and the engine's plugin set; store tells it which
// subscriptions use a plugin.
func New(cfg Config, rt *runtime.Runtime, plugins *engine.Plugins, store engine.Store) *Manager {
	m := &Manager{cfg: cfg.WithDefaults(), rt: rt, plugins: plugins, store: store, entries: map[string]*entry{},
		changed: map[string]bool{}, wake: make(chan struct{}, 1)}
	if m.cfg.Uploads != nil && m.cfg.Notifier != nil {
		m.cfg.Notifier.Subscribe(engine.TopicPluginChanged, m.notified)
	}
	return m
}

// grants returns the keys the operator granted the plugin named name.
func (m *Manager) grants(name string) []runtime.Grant { return m.cfg.KeyGrants[name] }

// Config returns the manager's configuration, defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// AddBuiltin records a built-in plugin, already in the engine's set, so it is listed and its name
// is reserved.
func (m *Manager) AddBuiltin(p *runtime.Plugin) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[p.Manifest().Name] = &entry{plugin: p, source: SourceBuiltin, loadedAt: time.Now().UTC()}
}

// Load loads what earlier runs uploaded and what the plugins folder holds. A module that no longer
// passes validation is logged and skipped: the node still starts, and deliveries in its format
// wait (and retry) until a good version is loaded.
func (m *Manager) Load(ctx context.Context) error {
	if m.cfg.Uploads != nil {
		if err := m.loadShared(ctx); err != nil {
			return err
		}
	} else if m.cfg.StoreDir != "" {
		if err := m.loadStored(ctx); err != nil {
			return err
		}
	}
	if m.cfg.Dir != "" {
		m.dir = newDirWatcher(m)
		if err := m.dir.scan(ctx, true); err != nil {
			return err
		}
	}
	return nil
}

var _ engine.Service = (*Manager)(nil)

// Start watches the plugins folder, when there is one, and the shared uploads, when they are.
func (m *Manager) Start(ctx context.Context) error {
	if m.cfg.Uploads != nil {
		m.sync.Run = m.syncLoop
		if err := m.sync.Start(ctx); err != nil {
			return err
		}
	}
	if m.dir == nil {
		return nil
	}
	m.watch.Run = func(ctx context.Context) { m.dir.run(ctx, m.cfg.PollInterval) }
	return m.watch.Start(ctx)
}

// Stop stops watching. Safe to call twice, and without Start.
func (m *Manager) Stop(ctx context.Context) error {
	return errors.Join(m.watch.Stop(ctx), m.sync.Stop(ctx))
}

// List describes every loaded plugin, built-in ones included, sorted by name.
func (m *Manager) List() []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e.info())
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Get describes the plugin named name.
func (m *Manager) Get(name string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return Info{}, fmt.Errorf("plugin %q: %w", name, engine.ErrNotFound)
	}
	return e.info(), nil
}

func (e *entry) info() Info {
	man := e.plugin.Manifest()
	st := e.plugin.Stats()
	info := Info{
		Name: man.Name, Version: man.Version, Description: man.Description, Module: e.plugin.Version(),
		Hash: e.plugin.Hash, Mode: e.plugin.Mode.String(), Source: e.source, File: e.file, KeyGrants: e.plugin.Grants(),
		Events: man.Events, Hooks: man.Hooks, Options: man.Options, LoadedAt: e.loadedAt,
		Stats: &Stats{
			Calls: st.Calls, Errors: st.PluginErrors + st.Traps, PluginErrors: st.PluginErrors,
			Traps: st.Traps, Instances: st.LiveInstances, InUse: st.InUse, Capacity: st.Capacity,
			Waiting: st.Waiting, Refused: st.Refused, ConsecutiveTraps: st.ConsecutiveTraps, Quarantines: st.Quarantines,
		},
	}
	if st.QuarantinedUntil.After(time.Now()) {
		info.Quarantine = &Quarantine{Until: st.QuarantinedUntil.UTC(), ConsecutiveTraps: st.ConsecutiveTraps, LastTrap: st.LastTrap}
	}
	if info.Events == nil {
		info.Events = []sdk.EventType{}
	}
	if info.Hooks == nil {
		info.Hooks = []string{}
	}
	if info.KeyGrants == nil {
		info.KeyGrants = []runtime.Grant{}
	}
	return info
}

// Uploaded is what an upload did.
type Uploaded struct {
	Info
	// Replaced is the module that served before, when this upload replaced one.
	Replaced string `json:"replaced,omitempty"`
	// Unchanged says the module was already serving, in the same mode: nothing changed.
	Unchanged bool `json:"-"`
}

// Upload validates a module uploaded as name and, once it passes, keeps it in the store folder and
// makes it serve in place of any earlier version. Uploading the module already serving, in the same
// mode, changes nothing.
func (m *Manager) Upload(ctx context.Context, name string, wasm []byte, trusted bool) (Uploaded, error) {
	if !sdk.IsPluginName(name) {
		return Uploaded{}, &engine.ValidationError{Field: "name", Message: fmt.Sprintf("%q must be %s", name, sdk.PluginNameRule)}
	}
	if int64(len(wasm)) > m.cfg.MaxModuleBytes {
		return Uploaded{}, fmt.Errorf("module of %d bytes exceeds the limit of %d: %w", len(wasm), m.cfg.MaxModuleBytes, engine.ErrTooLarge)
	}
	if m.cfg.StoreDir == "" && m.cfg.Uploads == nil {
		return Uploaded{}, fmt.Errorf("uploads are not enabled on this node: %w", engine.ErrConflict)
	}
	mode := runtime.Sandboxed
	if trusted {
		mode = runtime.Trusted
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.entries[name]
	if err := changeable(name, old); err != nil {
		return Uploaded{}, err
	}
	if old != nil && old.plugin.Hash == runtime.ModuleHash(wasm) && old.plugin.Mode == mode {
		return Uploaded{Info: old.info(), Unchanged: true}, nil
	}
	p, err := Validate(ctx, m.rt, wasm, name, mode, m.grants)
	if err != nil {
		return Uploaded{}, err
	}
	if err := m.save(name, wasm, trusted); err != nil {
		p.Close(context.WithoutCancel(ctx))
		return Uploaded{}, err
	}
	e := &entry{plugin: p, source: SourceUpload, loadedAt: time.Now().UTC()}
	res := Uploaded{}
	if old != nil {
		res.Replaced = old.plugin.Version()
	}
	m.swapIn(name, e)
	res.Info = e.info()
	m.cfg.Logger.Info("plugin uploaded", "plugin", p.Version(), "mode", p.Mode, "replaced", res.Replaced)
	m.publish(ctx, name)
	return res, nil
}

// changeable refuses changes through the API to plugins another source owns. Callers hold mu.
func changeable(name string, e *entry) error {
	if e == nil {
		return nil
	}
	switch e.source {
	case SourceBuiltin:
		return fmt.Errorf("plugin %q is built into this binary and cannot be replaced or deleted; upload yours under another name: %w: %w", name, ErrNotCustom, engine.ErrConflict)
	case SourceDir:
		return fmt.Errorf("plugin %q is loaded from the plugins folder (%s); change or remove the file there: %w: %w", name, e.file, ErrNotCustom, engine.ErrConflict)
	}
	return nil
}

// swapIn makes e's plugin serve under name and retires the version it replaces once the
// deliveries holding it are done. Callers hold mu.
func (m *Manager) swapIn(name string, e *entry) {
	m.entries[name] = e
	if old := m.plugins.Put(e.plugin); old != nil {
		m.retire(old)
	}
}

func (m *Manager) retire(p engine.Plugin) {
	m.plugins.Retire(p, func() {
		if rp, ok := p.(*runtime.Plugin); ok {
			// Close lets calls in flight finish; it must not hold up whoever let go last.
			go rp.Close(context.Background())
		}
	})
}

// InUseError is the refusal to remove a plugin that subscriptions use; it names them.
type InUseError struct {
	Plugin        string
	Subscriptions []string
	// More is true when there are more subscriptions than listed.
	More bool
}

func (e *InUseError) Error() string {
	list := strings.Join(e.Subscriptions, ", ")
	if e.More {
		list += ", ..."
	}
	return fmt.Sprintf("plugin %q is the format of subscriptions %s; delete them (or wait for them to be removed) first", e.Plugin, list)
}

func (e *InUseError) Unwrap() error { return engine.ErrConflict }

// Delete removes an uploaded plugin, unless subscriptions use it.
func (m *Manager) Delete(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return fmt.Errorf("plugin %q: %w", name, engine.ErrNotFound)
	}
	if err := changeable(name, e); err != nil {
		return err
	}
	if err := m.remove(ctx, name); err != nil {
		return err
	}
	if err := m.unsave(name); err != nil {
		// The plugin no longer serves; the file would bring it back on the next start.
		m.cfg.Logger.Error("remove stored plugin", "plugin", name, "err", err)
	}
	m.cfg.Logger.Info("plugin deleted", "plugin", e.plugin.Version())
	m.publish(ctx, name)
	return nil
}

// remove takes a plugin out of service unless subscriptions use it. A refused removal must change
// nothing, so it looks before taking the plugin out; it looks again after, and puts the plugin back,
// for a subscription created in between (CreateSubscription checks the format, then stores). One
// created after the second look, by a request that checked the format before the removal, can still
// slip through: the window is the time between those two steps of one request. Callers hold mu.
func (m *Manager) remove(ctx context.Context, name string) error {
	if err := m.checkUnused(ctx, name); err != nil {
		return err
	}
	removed := m.plugins.Remove(name)
	if err := m.checkUnused(ctx, name); err != nil {
		if removed != nil {
			m.plugins.Put(removed)
		}
		return err
	}
	delete(m.entries, name)
	if removed != nil {
		m.retire(removed)
	}
	return nil
}

func (m *Manager) checkUnused(ctx context.Context, name string) error {
	limit := m.cfg.SubscriptionsLimit
	subs, err := m.store.ListSubscriptions(ctx, engine.SubscriptionFilter{Format: name, Page: engine.Page{Limit: limit + 1}})
	if err != nil {
		return fmt.Errorf("list subscriptions of plugin %s: %w", name, err)
	}
	if len(subs) == 0 {
		return nil
	}
	inUse := &InUseError{Plugin: name, More: len(subs) > limit}
	for _, s := range subs[:min(len(subs), limit)] {
		inUse.Subscriptions = append(inUse.Subscriptions, s.ID)
	}
	return inUse
}
