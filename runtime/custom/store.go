package custom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/sdk"
)

// Uploaded modules live in StoreDir as NAME.wasm, with NAME.json beside it for what the upload
// said about it. The module is written first and the metadata last, each by rename, so a crash
// leaves either the previous version or the new one, never half of one.

type storedMeta struct {
	Trusted    bool      `json:"trusted"`
	Hash       string    `json:"hash"`
	UploadedAt time.Time `json:"uploaded_at"`
}

func (m *Manager) save(name string, wasm []byte, trusted bool) error {
	if m.cfg.Uploads != nil {
		return m.cfg.Uploads.SavePlugin(context.Background(), &engine.StoredPlugin{
			Name: name, Hash: runtime.ModuleHash(wasm), Trusted: trusted, Wasm: wasm, UploadedAt: time.Now().UTC(),
		})
	}
	if err := os.MkdirAll(m.cfg.StoreDir, 0o700); err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	meta, err := json.Marshal(storedMeta{Trusted: trusted, Hash: runtime.ModuleHash(wasm), UploadedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(m.cfg.StoreDir, name+".wasm"), wasm); err != nil {
		return fmt.Errorf("store plugin %s: %w", name, err)
	}
	if err := writeFileAtomic(filepath.Join(m.cfg.StoreDir, name+".json"), meta); err != nil {
		return fmt.Errorf("store plugin %s: %w", name, err)
	}
	return nil
}

func (m *Manager) unsave(name string) error {
	if m.cfg.Uploads != nil {
		return m.cfg.Uploads.DeletePlugin(context.Background(), name)
	}
	var errs []error
	for _, ext := range []string{".json", ".wasm"} {
		if err := os.Remove(filepath.Join(m.cfg.StoreDir, name+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadStored loads every stored upload. Its own files passed validation when they were uploaded; a
// module that no longer does (this host changed its ABI, say) is logged and left where it is.
func (m *Manager) loadStored(ctx context.Context) error {
	entries, err := os.ReadDir(m.cfg.StoreDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("plugin store: %w", err)
	}
	for _, de := range entries {
		name, ok := strings.CutSuffix(de.Name(), ".wasm")
		if !ok || !de.Type().IsRegular() || !sdk.IsPluginName(name) {
			continue
		}
		if err := m.loadStoredOne(ctx, name); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.cfg.Logger.Error("stored plugin not loaded", "plugin", name, "err", err)
		}
	}
	return nil
}

func (m *Manager) loadStoredOne(ctx context.Context, name string) error {
	wasm, err := os.ReadFile(filepath.Join(m.cfg.StoreDir, name+".wasm"))
	if err != nil {
		return err
	}
	var meta storedMeta
	if b, err := os.ReadFile(filepath.Join(m.cfg.StoreDir, name+".json")); err == nil {
		if err := json.Unmarshal(b, &meta); err != nil {
			return fmt.Errorf("%s.json: %w", name, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// A module whose metadata names another hash was being replaced when the node stopped; its
	// trust cannot be taken from metadata written for a different module.
	if meta.Hash != "" && meta.Hash != runtime.ModuleHash(wasm) {
		meta.Trusted = false
	}
	mode := runtime.Sandboxed
	if meta.Trusted {
		mode = runtime.Trusted
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := changeable(name, m.entries[name]); err != nil {
		return err
	}
	p, err := Validate(ctx, m.rt, wasm, name, mode, m.grants)
	if err != nil {
		return err
	}
	m.swapIn(name, &entry{plugin: p, source: SourceUpload, loadedAt: time.Now().UTC()})
	m.cfg.Logger.Info("plugin loaded", "plugin", p.Version(), "mode", p.Mode, "source", SourceUpload, "compile", p.CompileTime.Round(time.Millisecond))
	return nil
}

// writeFileAtomic writes b to path through a temporary file, synced and renamed into place.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
