package custom

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/switchyard/switchyard/runtime"
)

// dirWatcher loads the plugins folder's .wasm files and picks up new, changed and removed ones by
// polling: a poll costs one ReadDir and a stat per file, which needs no dependency and works on
// every file system (inotify misses changes on network and some container mounts). A file is
// (re)loaded once it looks the same on two polls in a row, so one still being copied in is not read
// half-written; its content hash decides whether it really changed (a touch does not reload). A
// file that fails validation is logged once and tried again when it changes.
type dirWatcher struct {
	m     *Manager
	files map[string]*fileState // by path
}

type fileState struct {
	size    int64
	modTime time.Time
	// seen is the size and time of the last poll, for the stability check.
	seenSize    int64
	seenModTime time.Time
	// hash is the content last processed; name the plugin it loaded as, if it did; err why not.
	hash string
	name string
	err  error
}

func newDirWatcher(m *Manager) *dirWatcher {
	return &dirWatcher{m: m, files: map[string]*fileState{}}
}

func (w *dirWatcher) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.scan(ctx, false); err != nil && ctx.Err() == nil {
				w.m.cfg.Logger.Error("scan plugins folder", "dir", w.m.cfg.Dir, "err", err)
			}
		}
	}
}

// scan looks at the folder once. At start (initial) every file is loaded at once; later, a new or
// changed file waits for the next poll to confirm it is complete.
func (w *dirWatcher) scan(ctx context.Context, initial bool) error {
	dir := w.m.cfg.Dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("plugins folder: %w", err)
	}
	present := map[string]bool{}
	var ready []string
	for _, de := range entries {
		if !strings.HasSuffix(de.Name(), ".wasm") || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, de.Name())
		fi, err := os.Stat(path) // follows symlinks, which deployments often use
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		present[path] = true
		st := w.files[path]
		if st == nil {
			st = &fileState{size: -1}
			w.files[path] = st
		}
		if fi.Size() == st.size && fi.ModTime().Equal(st.modTime) {
			continue // processed as it is
		}
		stable := fi.Size() == st.seenSize && fi.ModTime().Equal(st.seenModTime)
		st.seenSize, st.seenModTime = fi.Size(), fi.ModTime()
		if initial || stable {
			ready = append(ready, path)
		}
	}
	sort.Strings(ready)
	for _, path := range ready {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.process(ctx, path)
	}
	var gone []string
	for path := range w.files {
		if !present[path] {
			gone = append(gone, path)
		}
	}
	sort.Strings(gone)
	for _, path := range gone {
		w.removed(ctx, path)
	}
	return nil
}

// process (re)loads one file that is new or changed.
func (w *dirWatcher) process(ctx context.Context, path string) {
	st := w.files[path]
	st.size, st.modTime = st.seenSize, st.seenModTime
	wasm, err := os.ReadFile(path)
	if err != nil {
		w.fail(path, st, err)
		return
	}
	hash := runtime.ModuleHash(wasm)
	if hash == st.hash {
		return // touched, not changed
	}
	st.hash = hash
	name, err := w.load(ctx, path, wasm)
	if err != nil {
		w.fail(path, st, err)
		return
	}
	if st.name != "" && st.name != name {
		// The file now holds a plugin of another name: the old name goes as if its file had.
		w.unload(ctx, path, st.name)
	}
	st.name, st.err = name, nil
}

func (w *dirWatcher) fail(path string, st *fileState, err error) {
	if st.err == nil || st.err.Error() != err.Error() {
		w.m.cfg.Logger.Error("plugin file not loaded", "file", path, "err", err)
	}
	st.err = err
}

// load validates wasm from path and makes it serve, unless its name belongs to another source or
// another file.
func (w *dirWatcher) load(ctx context.Context, path string, wasm []byte) (string, error) {
	m := w.m
	// The name is only known once the module is loaded; trusted ones are loaded a second time,
	// trusted, by Validate, after passing sandboxed.
	probe, err := Validate(ctx, m.rt, wasm, "", runtime.Sandboxed, m.grants)
	if err != nil {
		return "", err
	}
	name := probe.Manifest().Name
	p := probe
	if slices.Contains(m.cfg.Trusted, name) {
		probe.Close(context.WithoutCancel(ctx))
		if p, err = m.rt.Load(ctx, wasm, runtime.Trusted, m.grants(name)...); err != nil {
			return "", fmt.Errorf("load plugin %s trusted: %w", name, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.entries[name]; old != nil && !(old.source == SourceDir && old.file == path) {
		p.Close(context.WithoutCancel(ctx))
		if old.source == SourceDir {
			return "", fmt.Errorf("plugin %q is already loaded from %s", name, old.file)
		}
		return "", fmt.Errorf("plugin %q is already loaded (%s); a file in the plugins folder cannot replace it", name, old.source)
	}
	replaced := m.entries[name] != nil
	m.swapIn(name, &entry{plugin: p, source: SourceDir, file: path, loadedAt: time.Now().UTC()})
	m.cfg.Logger.Info("plugin loaded", "plugin", p.Version(), "mode", p.Mode, "source", SourceDir, "file", path, "replaced", replaced)
	return name, nil
}

// removed handles a file that went away: its plugin is unloaded, unless subscriptions use it.
func (w *dirWatcher) removed(ctx context.Context, path string) {
	st := w.files[path]
	delete(w.files, path)
	if st.name != "" {
		w.unload(ctx, path, st.name)
	}
}

// unload takes the plugin that path provided out of service, unless subscriptions use it: then it
// keeps serving (until the next start) and the operator is told why.
func (w *dirWatcher) unload(ctx context.Context, path, name string) {
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if e == nil || e.source != SourceDir || e.file != path {
		return
	}
	if err := m.remove(ctx, name); err != nil {
		var inUse *InUseError
		if errors.As(err, &inUse) {
			m.cfg.Logger.Warn("plugin file removed, but the plugin keeps serving until the next start: subscriptions use it", "file", path, "plugin", name, "subscriptions", inUse.Subscriptions)
			return
		}
		m.cfg.Logger.Error("unload plugin", "file", path, "plugin", name, "err", err)
		return
	}
	m.cfg.Logger.Info("plugin unloaded: its file was removed", "file", path, "plugin", name)
}
