package custom

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime"
)

// Uploads kept in a database several nodes share (Config.Uploads): the node that takes an upload
// or a deletion stores it, then publishes the plugin's name; every node, on hearing it, compares
// what it runs under that name with what is stored, and loads, swaps or removes to match. Each
// node validates and compiles the module itself. A node that heard nothing (its listener was
// down) compares everything after reconnecting, and every SyncInterval regardless.

// loadShared loads every stored upload at start.
func (m *Manager) loadShared(ctx context.Context) error {
	stored, err := m.cfg.Uploads.ListPlugins(ctx)
	if err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	for _, sp := range stored {
		if err := m.syncOne(ctx, sp.Name); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.cfg.Logger.Error("stored plugin not loaded", "plugin", sp.Name, "err", err)
		}
	}
	return nil
}

// publish tells the other nodes that the upload named name changed.
func (m *Manager) publish(ctx context.Context, name string) {
	if m.cfg.Uploads == nil || m.cfg.Notifier == nil {
		return
	}
	if err := m.cfg.Notifier.Publish(context.WithoutCancel(ctx), engine.TopicPluginChanged, name); err != nil {
		m.cfg.Logger.Error("tell the other nodes of a plugin change; they load it within the sync interval", "plugin", name, "err", err)
	}
}

// notified records a change for the sync loop: the notifier's goroutine must not wait for a
// module to compile.
func (m *Manager) notified(name string) {
	m.changedMu.Lock()
	m.changed[name] = true
	m.changedMu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) syncLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.SyncInterval)
	defer t.Stop()
	for {
		all := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			all = true
		case <-m.wake:
		}
		m.changedMu.Lock()
		names := m.changed
		m.changed = map[string]bool{}
		m.changedMu.Unlock()
		if all || names[engine.Reset] {
			m.syncAll(ctx)
			continue
		}
		for name := range names {
			if err := m.syncOne(ctx, name); err != nil && ctx.Err() == nil {
				m.cfg.Logger.Error("load a plugin changed on another node", "plugin", name, "err", err)
			}
		}
	}
}

// syncAll brings every upload in line with the store: new and changed ones loaded, deleted ones
// removed.
func (m *Manager) syncAll(ctx context.Context) {
	stored, err := m.cfg.Uploads.ListPlugins(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.cfg.Logger.Error("compare plugins with the store", "err", err)
		}
		return
	}
	names := map[string]bool{}
	for _, sp := range stored {
		names[sp.Name] = true
	}
	m.mu.Lock()
	for name, e := range m.entries {
		if e.source == SourceUpload {
			names[name] = true
		}
	}
	m.mu.Unlock()
	for name := range names {
		if err := m.syncOne(ctx, name); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Error("load a plugin changed on another node", "plugin", name, "err", err)
		}
	}
}

// syncOne makes the upload named name serve as stored: loaded or swapped when the stored module
// differs from the one serving, removed when none is stored. A name the plugins folder or the
// binary serves is left to them.
func (m *Manager) syncOne(ctx context.Context, name string) error {
	sp, err := m.cfg.Uploads.GetPlugin(ctx, name)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.entries[name]
	if cur != nil && cur.source != SourceUpload {
		if sp != nil {
			return changeable(name, cur)
		}
		return nil
	}
	if sp == nil {
		if cur != nil {
			// Deleted through another node, which checked that no subscription uses it.
			delete(m.entries, name)
			if removed := m.plugins.Remove(name); removed != nil {
				m.retire(removed)
			}
			m.cfg.Logger.Info("plugin deleted on another node", "plugin", cur.plugin.Version())
		}
		return nil
	}
	mode := runtime.Sandboxed
	if sp.Trusted {
		mode = runtime.Trusted
	}
	if cur != nil && cur.plugin.Hash == sp.Hash && cur.plugin.Mode == mode {
		return nil
	}
	if runtime.ModuleHash(sp.Wasm) != sp.Hash {
		return fmt.Errorf("stored plugin %s: its module does not match its hash", name)
	}
	p, err := Validate(ctx, m.rt, sp.Wasm, name, mode, m.grants)
	if err != nil {
		return err
	}
	m.swapIn(name, &entry{plugin: p, source: SourceUpload, loadedAt: time.Now().UTC()})
	m.cfg.Logger.Info("plugin loaded", "plugin", p.Version(), "mode", p.Mode, "source", SourceUpload, "compile", p.CompileTime.Round(time.Millisecond))
	return nil
}
