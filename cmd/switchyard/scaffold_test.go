package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginNewBuildsAtOnce scaffolds a plugin, runs its own test with the Go toolchain and no
// module proxy (it must build offline, against this source's sdk), builds it, and shapes its sample
// event through the runtime.
func TestPluginNewBuildsAtOnce(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "chat-relay")
	out, _, err := runCLI(t, "plugin", "new", "chat-relay", "--dir", dir, "--sdk", "../../sdk")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "plugin.go", "plugin_test.go", "sample_event.json", "wasm/main.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil || !strings.Contains(out, f) {
			t.Errorf("%s: %v (output %q)", f, err, out)
		}
	}
	gotest := exec.Command("go", "test", "-count=1", "./...")
	gotest.Dir = dir
	gotest.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	if b, err := gotest.CombinedOutput(); err != nil || !strings.Contains(string(b), "ok  \texample.com/chat-relay") {
		t.Fatalf("go test in the scaffold: %v\n%s", err, b)
	}

	wasm := filepath.Join(root, "chat-relay.wasm")
	out, _, err = runCLI(t, "plugin", "build", dir, "-o", wasm)
	if err != nil || !strings.Contains(out, "chat-relay 0.1.0, ABI 2") {
		t.Fatalf("build: %v %q", err, out)
	}
	out, _, err = runCLI(t, "plugin", "test", "--plugin", wasm, "--event", filepath.Join(dir, "sample_event.json"))
	if err != nil || !strings.Contains(out, "x-webhook-event: client.create") || !strings.Contains(out, `"name": "Acme GmbH"`) {
		t.Fatalf("plugin test: %v\n%s", err, out)
	}

	// A second scaffold into the same folder would overwrite the author's work.
	if _, _, err := runCLI(t, "plugin", "new", "chat-relay", "--dir", dir, "--sdk", "../../sdk"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("scaffolding over a plugin: %v", err)
	}
}

func TestPluginNewNeedsTheSDK(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "p")
	// The test binary is built without -X main.sdkDir, as a plain `go build` would be.
	if _, _, err := runCLI(t, "plugin", "new", "p", "--dir", dir); err == nil || !strings.Contains(err.Error(), "pass --sdk") {
		t.Errorf("without a known sdk: %v", err)
	}
	if _, _, err := runCLI(t, "plugin", "new", "p", "--dir", dir, "--sdk", t.TempDir()); err == nil || !strings.Contains(err.Error(), "the Switchyard SDK is not at") {
		t.Errorf("with a wrong --sdk: %v", err)
	}
	if _, _, err := runCLI(t, "plugin", "new", "Bad Name", "--sdk", "../../sdk"); err == nil || exitCode(err) != 2 {
		t.Errorf("a bad name: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused scaffold left %s", dir)
	}
}
