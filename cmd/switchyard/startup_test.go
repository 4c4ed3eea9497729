package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// TestPortOpensBeforePluginsLoad starts the real binary on an empty data dir with a custom plugin in
// its plugins folder (which compiles before the node is ready, a second or so: the built-in plugins
// are taken at the manifests their build embedded) and checks that the port answers at once: /healthz 200,
// /readyz 503 saying the node is starting, and an API call 503 with Retry-After, until the log says
// every plugin loaded; then /readyz 200 and the API takes work. The log's lines come in that
// order: serving, each plugin loaded, ready.
func TestPortOpensBeforePluginsLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a subprocess")
	}
	t.Parallel()
	bin := buildBinary(t)
	addr, base := freeAddr(t), ""
	base = "http://" + addr
	var log bytes.Buffer
	plugins := t.TempDir()
	if err := os.WriteFile(filepath.Join(plugins, "echo.wasm"), runtimetest.Build(t, "../../runtime/testdata/echo"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", t.TempDir(), "--admin-token", "boot-admin",
		"--plugins-dir", plugins, "--log-format", "json", "--log-level", "info")
	// The environment's own settings (a shared compilation cache) would make the start warm.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHYARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz answered %d while starting, want 200", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the port never opened: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	status, body, _ := call(t, "GET", base+"/readyz", "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("/readyz right after the port opened: %d %s, want 503 saying the node is starting", status, body)
	}
	status, body, header := call(t, "POST", base+"/v1/accounts", "boot-admin", `{"name": "too early"}`)
	var apiErr struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &apiErr); err != nil || status != http.StatusServiceUnavailable ||
		apiErr.Error.Code != "unavailable" || !strings.Contains(apiErr.Error.Message, "plugins loaded") || header.Get("Retry-After") == "" {
		t.Fatalf("an API call while starting: %d %s (Retry-After %q), want 503 code unavailable saying how many plugins loaded",
			status, body, header.Get("Retry-After"))
	}

	deadline = time.Now().Add(3 * time.Minute)
	for {
		if status, _, _ = call(t, "GET", base+"/readyz", "", ""); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered 200; last %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, body, _ = call(t, "POST", base+"/v1/accounts", "boot-admin", `{"name": "on time"}`); status != http.StatusCreated {
		t.Fatalf("an API call once ready: %d %s, want 201", status, body)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM\n%s", err, log.String())
	}
	exited = true
	var order []string
	loaded := 0
	sc := bufio.NewScanner(&log)
	for sc.Scan() {
		var line struct{ Msg string }
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "plugin loaded":
			if loaded++; loaded > 1 {
				continue
			}
			fallthrough
		case "switchyard serving", "switchyard ready":
			order = append(order, line.Msg)
		}
	}
	if got := strings.Join(order, ", "); got != "switchyard serving, plugin loaded, switchyard ready" || loaded < 6 {
		t.Errorf("the log has %q with %d plugins loaded, want serving, then the plugins (6 or more), then ready\n%s", got, loaded, log.String())
	}
}

func call(t *testing.T, method, url, token, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
