package main

import (
	"errors"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSecondServeOnADataDirInUseIsRefused starts the real binary on a data dir, then a second one
// on the same dir: the second exits non-zero before it opens the database, naming the process that
// holds the dir, and the first keeps serving. Two nodes on one SQLite file would each reset the
// other's claimed deliveries as leftovers of a crash and send them twice.
func TestSecondServeOnADataDirInUseIsRefused(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dataDir := t.TempDir()
	first := startServer(t, bin, freeAddr(t), dataDir)
	defer first.kill(t)

	second := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data-dir", dataDir, "--admin-token", "crash-admin")
	started := time.Now()
	done := make(chan error, 1)
	var out strings.Builder
	second.Stdout, second.Stderr = &out, &out
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- second.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = second.Process.Kill()
		t.Fatalf("the second serve did not exit; it printed:\n%s", out.String())
	}
	t.Logf("the second serve exited after %v", time.Since(started).Round(time.Millisecond))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("the second serve ended with %v, want a non-zero exit; it printed:\n%s", err, out.String())
	}
	msg := out.String()
	for _, want := range []string{"data dir in use", "process " + strconv.Itoa(first.cmd.Process.Pid), dataDir} {
		if !strings.Contains(msg, want) {
			t.Errorf("the second serve's message does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "plugin loaded") {
		t.Errorf("the second serve loaded plugins before it was refused:\n%s", msg)
	}

	// The first is unharmed: it still answers and still takes work.
	base := "http://" + first.addr
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the first server after the refusal: %v %v", resp, err)
	}
	resp.Body.Close()
	var acc struct{ ID string }
	if _, err := apiCall(base, "crash-admin", "POST", "/v1/accounts", map[string]string{"name": "still here"}, &acc); err != nil || acc.ID == "" {
		t.Fatalf("the first server refused work after the second was refused: %v", err)
	}
}
