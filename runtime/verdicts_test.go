package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/switchyard/switchyard/runtime/builtin"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// TestRestartRemembersValidModules: a module LoadDormant found valid is, on the next start of the
// same build on the same cache, taken at its remembered manifest without compiling or running it,
// and compiled by its first call, which works. A damaged or invalid verdict is not believed: the
// module is judged again, and the verdict written anew.
func TestRestartRemembersValidModules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wasm := echoWasm(t)
	source := func() ([]byte, error) { return wasm, nil }
	start := func() *Plugin {
		t.Helper()
		b := setup(t, Config{CacheDir: dir})
		p, err := b.rt.LoadDormant(context.Background(), source, Trusted)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	first := start()
	if first.Remembered {
		t.Fatal("the first load on an empty cache claims a remembered verdict")
	}
	again := start()
	if !again.Remembered || again.CompileTime != 0 {
		t.Fatalf("the second load: remembered %v, compile time %v; want remembered, nothing compiled", again.Remembered, again.CompileTime)
	}
	if st := again.Stats(); !st.Dormant || st.Recompiles != 0 || st.LiveInstances != 0 {
		t.Fatalf("a remembered plugin after loading: %+v, want dormant with no instance", st)
	}
	if !reflect.DeepEqual(again.Manifest(), first.Manifest()) {
		t.Fatalf("remembered manifest %+v differs from the one the module gave %+v", again.Manifest(), first.Manifest())
	}
	if _, err := again.Shape(context.Background(), sampleInput(), nil); err != nil {
		t.Fatalf("the first call to a remembered plugin: %v", err)
	}
	if st := again.Stats(); st.Dormant || st.Recompiles != 0 {
		t.Fatalf("after its first call: %+v, want compiled, its first compilation no recompilation", st)
	}

	verdict := again.rt.verdicts.path(again.Hash)
	for name, damage := range map[string]string{
		"not JSON":            `{"name":`,
		"an invalid manifest": `{"name":"Bad Name","version":"1","abi":1,"events":[{"type":"client.create"}]}`,
	} {
		if err := os.WriteFile(verdict, []byte(damage), 0o600); err != nil {
			t.Fatal(err)
		}
		if p := start(); p.Remembered {
			t.Errorf("a verdict that is %s was believed", name)
		}
		if p := start(); !p.Remembered {
			t.Errorf("after a verdict that was %s, the module's new verdict was not written", name)
		}
	}
}

// TestVerdictsAreKeptPerBuild: a verdict one build of the host wrote, valid and for this very
// module, is not believed by another build (it may check modules differently), and is by its own.
func TestVerdictsAreKeptPerBuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := setup(t, Config{}).load(t, echoWasm(t), Trusted)
	newVerdicts(dir, "build-a").remember(p.Hash, p.Manifest())
	if _, ok := newVerdicts(dir, "build-b").manifest(p.Hash); ok {
		t.Error("build-b believed build-a's verdict")
	}
	if m, ok := newVerdicts(dir, "build-a").manifest(p.Hash); !ok || !reflect.DeepEqual(m, p.Manifest()) {
		t.Errorf("build-a's own verdict: %v, %+v; want the manifest it wrote", ok, m)
	}
}

// TestInvalidModulesGetNoVerdict: a module LoadDormant refuses is refused again on the next
// start, for its own reason, and leaves nothing behind that a later start could believe.
func TestInvalidModulesGetNoVerdict(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"badmanifest", "badimport"} {
		wasm := runtimetest.Build(t, "testdata/hostile/"+name)
		for round := range 2 {
			b := setup(t, Config{CacheDir: dir})
			_, err := b.rt.LoadDormant(context.Background(), func() ([]byte, error) { return wasm, nil }, Trusted)
			if !errors.Is(err, ErrInvalidPlugin) {
				t.Fatalf("%s, start %d: %v, want ErrInvalidPlugin", name, round+1, err)
			}
		}
	}
	entries, err := os.ReadDir(setup(t, Config{CacheDir: dir}).rt.verdicts.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("verdicts kept for refused modules: %v", entries)
	}
}

// TestOtherBuildsStaleVerdictsAreDropped: a start drops another build's verdicts once they have
// gone a day without change, and leaves recent ones to the build that may still be running.
func TestOtherBuildsStaleVerdictsAreDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale, recent := filepath.Join(dir, "verdicts", "stale-build"), filepath.Join(dir, "verdicts", "recent-build")
	for _, d := range []string{stale, recent} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleVerdictsAfter)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	b := setup(t, Config{CacheDir: dir})
	if b.rt.verdicts.dir == "" {
		t.Fatal("no verdicts kept: this test binary's build ID was not found")
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("another build's stale verdicts: %v, want removed", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("another build's recent verdicts: %v, want kept", err)
	}
}

// TestLoadDormantKnownCompilesNothing: a module whose known manifest is its own (the same hash,
// a valid manifest) is taken at it without compiling, and compiled by its first call, which works;
// a known manifest of another module, or an invalid one, is not believed: the module is compiled
// to learn its own.
func TestLoadDormantKnownCompilesNothing(t *testing.T) {
	t.Parallel()
	wasm := echoWasm(t)
	source := func() ([]byte, error) { return wasm, nil }
	own := setup(t, Config{}).load(t, wasm, Trusted).Manifest()
	load := func(known *Known) *Plugin {
		t.Helper()
		b := setup(t, Config{CacheDir: t.TempDir()}) // an empty cache: no verdict to remember
		p, err := b.rt.LoadDormantKnown(context.Background(), source, known, Trusted)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	p := load(&Known{Hash: ModuleHash(wasm), Manifest: own})
	if !p.Remembered || p.CompileTime != 0 {
		t.Fatalf("with its known manifest: remembered %v, compile time %v; want remembered, nothing compiled", p.Remembered, p.CompileTime)
	}
	if st := p.Stats(); !st.Dormant || st.LiveInstances != 0 {
		t.Fatalf("after loading at its known manifest: %+v, want dormant with no instance", st)
	}
	if !reflect.DeepEqual(p.Manifest(), own) {
		t.Errorf("manifest %+v; want the known one %+v", p.Manifest(), own)
	}
	if _, err := p.Shape(context.Background(), sampleInput(), nil); err != nil {
		t.Fatalf("the first call: %v", err)
	}
	if st := p.Stats(); st.Dormant {
		t.Fatalf("after its first call: %+v, want compiled", st)
	}

	invalid := own
	invalid.Name = "Bad Name"
	for name, known := range map[string]*Known{
		"another module's":   {Hash: ModuleHash([]byte("another module")), Manifest: own},
		"an invalid":         {Hash: ModuleHash(wasm), Manifest: invalid},
		"no known manifest:": nil,
	} {
		if p := load(known); p.Remembered || p.CompileTime == 0 || !reflect.DeepEqual(p.Manifest(), own) {
			t.Errorf("with %s manifest: remembered %v, compile time %v, manifest %+v; want the module compiled and its own manifest",
				name, p.Remembered, p.CompileTime, p.Manifest())
		}
	}
}

// TestBuiltinManifestsAreTheModules: the manifest `make plugins` embedded beside each built-in
// module is that module's (its hash) and is what the module gives when loaded, so that a server
// taking the plugin at it (LoadDormantKnown) serves the module's own.
func TestBuiltinManifestsAreTheModules(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	mods, err := builtin.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		var k Known
		if err := json.Unmarshal(m.Known, &k); err != nil {
			t.Errorf("%s: the embedded manifest: %v (run make plugins)", m.Name, err)
			continue
		}
		if k.Hash != ModuleHash(m.Wasm) {
			t.Errorf("%s: the embedded manifest is for module %s, not this one (%s)", m.Name, k.Hash, ModuleHash(m.Wasm))
			continue
		}
		if got := b.load(t, m.Wasm, Trusted).Manifest(); !reflect.DeepEqual(k.Manifest, got) {
			t.Errorf("%s: embedded manifest %+v; the module gives %+v", m.Name, k.Manifest, got)
		}
	}
}
