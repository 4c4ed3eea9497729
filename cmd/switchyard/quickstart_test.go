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

// quickstart is the README's quickstart block, as printed.
func quickstart(t *testing.T) string {
	t.Helper()
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
	// Warm the build cache, so the script's `go build` is as quick as a developer's would be.
	if out, err := exec.Command("go", "build", "-o", os.DevNull, "../../examples/receiver").CombinedOutput(); err != nil {
		t.Fatalf("build the example receiver: %v\n%s", err, out)
	}
	return string(m[1])
}

// runQuickstart runs the script against the server at addr with its receiver at receiver, as a
// developer pasting it into a shell with errexit on would, and returns what it printed and how it
// ended.
func runQuickstart(t *testing.T, script, addr, receiver string) (string, error) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SY=http://"+addr, "RECEIVER="+receiver, "SWITCHYARD_ADMIN_TOKEN=crash-admin")
	// A process group lets the test stop whatever the script left running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A file, not a pipe: a process left in the background would keep a pipe open after the
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
	// Only when the test ends: what one run leaves running is in the way of the next, as it would
	// be on a developer's machine.
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return output(), err
	case <-time.After(2 * time.Minute):
		t.Fatalf("the quickstart did not finish\n%s", output())
		return "", nil
	}
}

func wantQuickstartOutput(t *testing.T, run, got string) {
	t.Helper()
	for _, want := range []string{`verified dlv_`, `"type":"client.create"`, `"state":"succeeded"`, `"response_status":204`} {
		if !strings.Contains(got, want) {
			t.Errorf("the %s quickstart's output lacks %s:\n%s", run, want, got)
		}
	}
}

// TestReadmeQuickstart runs the README's quickstart block word for word against the real server
// binary, so the instructions a newcomer pastes cannot rot.
func TestReadmeQuickstart(t *testing.T) {
	script := quickstart(t)
	bin := buildBinary(t)
	addr := freeAddr(t)
	srv := startServer(t, bin, addr, t.TempDir())
	defer func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); _ = srv.cmd.Wait() }()
	got, err := runQuickstart(t, script, addr, freeAddr(t))
	if err != nil {
		t.Fatalf("the quickstart failed: %v\n%s\nserver log:\n%s", err, got, srv.log)
	}
	wantQuickstartOutput(t, "first", got)
}

// TestReadmeQuickstartTwice runs the quickstart twice against one server with one receiver
// address, as a developer trying it again would: the first run must not leave its receiver in
// the way of the second (issue 17: the second run's deliveries went to the first run's receiver,
// which knew another secret).
func TestReadmeQuickstartTwice(t *testing.T) {
	script := quickstart(t)
	bin := buildBinary(t)
	addr := freeAddr(t)
	srv := startServer(t, bin, addr, t.TempDir())
	defer func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); _ = srv.cmd.Wait() }()
	receiver := freeAddr(t)
	for _, run := range []string{"first", "second"} {
		got, err := runQuickstart(t, script, addr, receiver)
		if err != nil {
			t.Fatalf("the %s quickstart failed: %v\n%s\nserver log:\n%s", run, err, got, srv.log)
		}
		wantQuickstartOutput(t, run, got)
	}
}

// TestReadmeQuickstartWithoutLoopback runs the quickstart against a server that does not allow
// loopback receivers, as a newcomer who skipped SWITCHYARD_ALLOW_PRIVATE would: it must stop at
// the subscription with the server's reason and the flag to change, not wait forever.
func TestReadmeQuickstartWithoutLoopback(t *testing.T) {
	script := quickstart(t)
	bin := buildBinary(t)
	addr := freeAddr(t)
	srv := startServer(t, bin, addr, t.TempDir(), "--allow-private", "")
	defer func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); _ = srv.cmd.Wait() }()
	got, err := runQuickstart(t, script, addr, freeAddr(t))
	if err == nil {
		t.Fatalf("the quickstart succeeded with loopback refused:\n%s", got)
	}
	for _, want := range []string{"quickstart: POST /v1/subscriptions answered 422", "loopback", "--allow-private"} {
		if !strings.Contains(got, want) {
			t.Errorf("the failed quickstart's output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "verified") || strings.Contains(got, "/v1/events") {
		t.Errorf("the quickstart went on after the subscription failed:\n%s", got)
	}
}
