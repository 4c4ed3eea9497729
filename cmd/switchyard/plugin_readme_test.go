package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeWriteYourOwnPlugin runs the README's "Write your own plugin" block word for word: it
// scaffolds, tests, builds and tries a plugin with the real binary, uploads it to a real server,
// subscribes a loopback receiver in its format, and publishes.
func TestReadmeWriteYourOwnPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server, the toolchain and a receiver as subprocesses")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- write-your-own-plugin -->\n```sh\n(.*?)```\n<!-- /write-your-own-plugin -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no block between <!-- write-your-own-plugin --> markers")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", os.DevNull, "../../examples/dumpreceiver").CombinedOutput(); err != nil {
		t.Fatalf("build the example receiver: %v\n%s", err, out)
	}
	// Built as `make build` builds it: knowing where its sdk is, for `plugin new`.
	bin := filepath.Join(t.TempDir(), "switchyard")
	build := exec.Command("go", "build", "-ldflags", "-X main.sdkDir="+filepath.Join(root, "sdk"), "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	// A deadline far above need: the upload's checks start the plugin under it, and the machine
	// running the suite is busy (it is not what this test is about).
	srv := startServer(t, bin, addr, t.TempDir(), "--plugin-timeout", "15s")
	defer func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); _ = srv.cmd.Wait() }()

	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+string(m[1]))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SY=http://"+addr, "RECEIVER="+freeAddr(t), "SWITCHYARD_ADMIN_TOKEN=crash-admin",
		"SWITCHYARD="+bin, "PLUGINS="+t.TempDir(), "GOPROXY=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(t.TempDir(), "plugin-readme.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	output := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the README's plugin steps failed: %v\n%s\nserver log:\n%s", err, output(), srv.log)
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("the README's plugin steps did not finish\n%s", output())
	}
	got := output()
	for _, want := range []string{
		"created plugin my-format", "ok  \texample.com/my-format", "built ", "my-format 0.1.0, ABI 2",
		// The upload's answer.
		`"source":"upload"`, `"mode":"sandboxed"`,
		// What the receiver got: the custom-shaped request.
		"POST /hooks\n", "x-webhook-event: client.create\n", "x-webhook-signature: sha256=", `"type":"client.create"`, `"data":{"id": 42, "name": "Acme GmbH"}`,
		// The delivery and the plugin's counters.
		`"state":"succeeded"`, `"plugin_version":"my-format@0.1.0#`, `"calls":`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the output lacks %q:\n%s", want, got)
		}
	}
}
