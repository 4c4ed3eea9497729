// Package runtimetest gives tests real compiled plugins: the built-in ones, built exactly as
// `make plugins` builds them and into the same place, and test plugins from testdata folders.
package runtimetest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/runtime/builtin"
	"github.com/switchyard/switchyard/runtime/wasmbuild"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// RepoRoot returns the repository's root: the nearest folder upwards with a go.mod that is not the
// sdk's.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && filepath.Base(dir) != "sdk" {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("runtimetest: no repository root above the working directory")
		}
		dir = parent
	}
}

// Builtin returns the module of a built-in plugin, rebuilding it first when its source changed
// (the Go build cache makes that a no-op otherwise).
func Builtin(t testing.TB, name string) []byte {
	t.Helper()
	root := RepoRoot(t)
	return build(t, filepath.Join(root, builtin.PackageDir(name)), filepath.Join(root, builtin.Dir, name+".wasm"))
}

// Builtins returns every built-in plugin (each folder plugins/NAME/wasm) built from its source now,
// as a node loads them. In-process nodes load these rather than the modules embedded when the
// test binary was compiled, which are as old as the last `make plugins`.
func Builtins(t testing.TB) []builtin.Module {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(RepoRoot(t), "plugins", "*", "wasm", "main.go"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("runtimetest: no built-in plugins under plugins/*/wasm (%v)", err)
	}
	var mods []builtin.Module
	for _, main := range dirs {
		name := filepath.Base(filepath.Dir(filepath.Dir(main)))
		mods = append(mods, builtin.Module{Name: name, Wasm: Builtin(t, name)})
	}
	return mods
}

// Build compiles the plugin package in dir (relative to the test's package, e.g.
// "testdata/hostile/loop") and returns its module.
func Build(t testing.TB, dir string) []byte {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(RepoRoot(t), abs)
	if err != nil {
		t.Fatal(err)
	}
	return build(t, abs, filepath.Join(RepoRoot(t), "build", "testwasm", filepath.ToSlash(rel)+".wasm"))
}

func build(t testing.TB, pkgDir, out string) []byte {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[out]; ok {
		return b
	}
	// Several test binaries may build the same module at once: each writes its own file and
	// renames it into place, which is atomic.
	tmp := out + ".tmp." + filepath.Base(os.Args[0]) + "." + strconv.Itoa(os.Getpid())
	if err := wasmbuild.Build(context.Background(), pkgDir, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built[out] = b
	return b
}

// CacheDir is a compilation cache shared by every test run, so tests compile each module once per
// machine rather than once per test.
func CacheDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "build", "wazero-cache")
}
