// Package builtin embeds the built-in plugins, compiled to WebAssembly by `make plugins`, so the
// server binary carries them and loads them trusted. A built-in plugin is any folder
// plugins/NAME/wasm; there is no list to keep in step.
package builtin

import (
	"embed"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed wasm
var files embed.FS

// Dir is the folder of the embedded modules, relative to the repository root.
const Dir = "runtime/builtin/wasm"

// ErrNotBuilt means the binary was compiled before its plugins were (`go build` before `make`).
var ErrNotBuilt = errors.New("this binary carries no built-in plugins; build it with `make build`")

// Module is one embedded plugin module.
type Module struct {
	Name string
	Wasm []byte
	// Read returns the module's bytes again, for a plugin compiled anew after it went dormant
	// (runtime.LoadDormant), so that no copy need be kept; nil: use Wasm.
	Read func() ([]byte, error)
	// Known is the module's manifest as `make plugins` read it from the module, with the module's
	// hash (a runtime.Known, as JSON), for the server to load the plugin without compiling it
	// first; nil when the build wrote none.
	Known []byte
}

// Source returns a function giving the module's bytes: Read, or else a copy of Wasm kept for it.
func (m Module) Source() func() ([]byte, error) {
	if m.Read != nil {
		return m.Read
	}
	wasm := m.Wasm
	return func() ([]byte, error) { return wasm, nil }
}

// Modules returns the embedded plugin modules, sorted by name.
func Modules() ([]Module, error) {
	entries, err := fs.ReadDir(files, "wasm")
	if err != nil {
		return nil, err
	}
	var mods []Module
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok {
			continue
		}
		file := path.Join("wasm", e.Name())
		b, err := fs.ReadFile(files, file)
		if err != nil {
			return nil, err
		}
		known, err := fs.ReadFile(files, path.Join("wasm", name+".manifest.json"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		mods = append(mods, Module{Name: name, Wasm: b, Known: known, Read: func() ([]byte, error) { return fs.ReadFile(files, file) }})
	}
	if len(mods) == 0 {
		return nil, ErrNotBuilt
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Name < mods[j].Name })
	return mods, nil
}

// PackageDir returns the folder of a built-in plugin's wasm entry point, relative to the repository
// root.
func PackageDir(name string) string { return path.Join("plugins", name, "wasm") }
