package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

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
