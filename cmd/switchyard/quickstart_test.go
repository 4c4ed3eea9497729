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

// TestReadmeQuickstart runs the README's quickstart block word for word against the real server
// binary, so the instructions a newcomer pastes cannot rot.
func TestReadmeQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server and the example receiver as subprocesses")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- quickstart -->\n```sh\n(.*?)```\n<!-- /quickstart -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no quickstart block between <!-- quickstart --> markers")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// Warm the build cache, so the script's `go run` starts as quickly as a developer's would.
	if out, err := exec.Command("go", "build", "-o", os.DevNull, "../../examples/receiver").CombinedOutput(); err != nil {
		t.Fatalf("build the example receiver: %v\n%s", err, out)
	}

	bin := buildBinary(t)
	addr := freeAddr(t)
	srv := startServer(t, bin, addr, t.TempDir())
	defer func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); _ = srv.cmd.Wait() }()

	script := "set -euo pipefail\n" + string(m[1])
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SY=http://"+addr, "RECEIVER="+freeAddr(t), "SWITCHYARD_ADMIN_TOKEN=crash-admin")
	// The script leaves the receiver running in the background, as a developer would; a process
	// group lets the test stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A file, not a pipe: the receiver left in the background keeps a pipe open after the
	// script ends.
	out, err := os.Create(filepath.Join(t.TempDir(), "quickstart.out"))
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
			t.Fatalf("the quickstart failed: %v\n%s\nserver log:\n%s", err, output(), srv.log)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the quickstart did not finish\n%s", output())
	}
	got := output()
	for _, want := range []string{`verified dlv_`, `"type":"client.create"`, `"state":"succeeded"`, `"response_status":204`} {
		if !strings.Contains(got, want) {
			t.Errorf("the quickstart's output lacks %s:\n%s", want, got)
		}
	}
}
