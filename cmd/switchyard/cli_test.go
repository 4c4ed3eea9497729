package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/runtime/runtimetest"
)

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestPluginBuildThenTest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wasm := filepath.Join(dir, "standard.wasm")
	out, _, err := runCLI(t, "plugin", "build", "../../plugins/standard/wasm", "-o", wasm)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "standard 1.0.0, ABI 2") {
		t.Errorf("build output %q", out)
	}

	rawKey := []byte("0123456789abcdef0123456789abcdef")
	sub := filepath.Join(dir, "sub.json")
	subJSON, _ := json.Marshal(map[string]any{"url": "https://hooks.example/in", "secret": "whsec_" + base64.StdEncoding.EncodeToString(rawKey)})
	if err := os.WriteFile(sub, subJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "plugin", "test", "--plugin", wasm, "--event", "../../examples/events/client.create.json", "--subscription", sub, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Method, URL, Body string
		// Keyed as the API's attempts key them: Go's decoder would take "Name" for "name".
		Headers []map[string]string
	}
	if err := json.Unmarshal([]byte(out), &req); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	h := map[string]string{}
	for _, kv := range req.Headers {
		if len(kv) != 2 || kv["name"] == "" {
			t.Fatalf("header %v, want {\"name\", \"value\"} as the API's request_headers", kv)
		}
		h[kv["name"]] = kv["value"]
	}
	mac := hmac.New(sha256.New, rawKey)
	mac.Write([]byte(h["webhook-id"] + "." + h["webhook-timestamp"] + "." + req.Body))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); h["webhook-signature"] != want {
		t.Errorf("signature %q, want %q", h["webhook-signature"], want)
	}
	if req.Method != "POST" || req.URL != "https://hooks.example/in" || !strings.Contains(req.Body, `"type":"client.create"`) {
		t.Errorf("request %+v", req)
	}
}

// TestPluginTestRefusesWhatTheAPIRefuses tries events that POST /v1/events refuses: plugin test
// refuses them too, naming the field to change.
func TestPluginTestRefusesWhatTheAPIRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wasm := filepath.Join(dir, "standard.wasm")
	if _, _, err := runCLI(t, "plugin", "build", "../../plugins/standard/wasm", "-o", wasm); err != nil {
		t.Fatal(err)
	}
	for event, want := range map[string]string{
		`{"type": "client.create", "entity": {"type": "client", "id": "1"}, "data": {}}`:                                       "account_id: is required",
		`{"account_id": "acc_1", "type": "client.create", "data": {}}`:                                                         "entity: type and id are required",
		`{"account_id": "acc_1", "type": "Client", "entity": {"type": "client", "id": "1"}}`:                                   "type: \"Client\" is not an event type",
		`{"acount_id": "acc_1", "type": "client.create", "entity": {"type": "client", "id": "1"}, "data": {}}`:                 `unknown field "acount_id"`,
		`{"account_id": "acc_1", "type": "client.create", "entity": {"type": "client", "id": "1"}, "user": {}}`:                "user.id: is required",
		`{"account_id": "acc_1", "type": "client.create", "entity": {"type": "client", "id": "1"}, "source": {"type": "API"}}`: "source.type",
	} {
		file := filepath.Join(dir, "event.json")
		if err := os.WriteFile(file, []byte(event), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runCLI(t, "plugin", "test", "--plugin", wasm, "--event", file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want one saying %q", event, err, want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"frobnicate"}, {"plugin"}, {"plugin", "test"}, {"plugin", "build"}} {
		if _, _, err := runCLI(t, args...); !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
}

func TestPluginTestReportsAnInvalidPlugin(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, "plugin", "test", "--plugin", bad, "--event", "../../examples/events/client.create.json")
	if err == nil || !strings.Contains(err.Error(), `missing required export "shape"`) {
		t.Fatalf("err %v", err)
	}
}

func TestParseSettings(t *testing.T) {
	t.Parallel()
	got, err := parseSettings(" upsales.callback_ttl=72h, upsales.widget_timeout = 5s ,")
	if err != nil || len(got) != 2 || got["upsales.callback_ttl"] != "72h" || got["upsales.widget_timeout"] != "5s" {
		t.Errorf("parseSettings = %v, %v", got, err)
	}
	for _, bad := range []string{"callback_ttl=72h", "upsales.callback_ttl", ".x=1", "upsales.=1"} {
		if _, err := parseSettings(bad); err == nil {
			t.Errorf("parseSettings(%q) accepted it", bad)
		}
	}
}

func TestParseKeyGrants(t *testing.T) {
	t.Parallel()
	got, err := parseKeyGrants(" myivvy=server, other = server ,")
	if err != nil || len(got) != 2 || len(got["myivvy"]) != 1 || got["myivvy"][0] != "server" || got["other"][0] != "server" {
		t.Errorf("parseKeyGrants = %v, %v", got, err)
	}
	for _, bad := range []string{"myivvy", "=server", "myivvy="} {
		if _, err := parseKeyGrants(bad); err == nil {
			t.Errorf("parseKeyGrants(%q) accepted it", bad)
		}
	}
}

// TestServeRefusesAKeyThatCannotBeGranted: only the server's key is granted; the others are every
// plugin's already, bound to their subscription, and a typo must not pass silently.
func TestServeRefusesAKeyThatCannotBeGranted(t *testing.T) {
	t.Parallel()
	_, _, err := runCLI(t, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--plugin-key-grants", "myivvy=app")
	if err == nil || !strings.Contains(err.Error(), `"app" is not a key that can be granted`) {
		t.Fatalf("err %v", err)
	}
}

func TestServeWantsBothTLSFlags(t *testing.T) {
	t.Parallel()
	_, _, err := runCLI(t, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--tls-cert", "cert.pem")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--tls-cert and --tls-key go together") {
		t.Fatalf("err %v", err)
	}
}

// TestPluginTestOffersTheServerKeyAndURLs: a plugin that signs with the server key and uses the
// URLs the host mints (ivvy) can be tried with plugin test too. It is not parallel: wazero v1.12
// races on its version string when two runtimes start at once (internal/version).
func TestPluginTestOffersTheServerKeyAndURLs(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "ivvy.wasm")
	if err := os.WriteFile(wasm, runtimetest.Builtin(t, "ivvy"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Trusted, as the server runs it: the sandbox's start-up deadline is not what this is about.
	out, _, err := runCLI(t, "plugin", "test", "--trusted", "--plugin", wasm, "--event", "../../examples/events/client.create.json", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var req struct{ Body string }
	if err := json.Unmarshal([]byte(out), &req); err != nil {
		t.Fatal(err)
	}
	var sns map[string]string
	if err := json.Unmarshal([]byte(req.Body), &sns); err != nil {
		t.Fatalf("%s: %v", req.Body, err)
	}
	if sns["Type"] != "Notification" || sns["Signature"] == "" || sns["SigningCertURL"] != "https://switchyard.example/hooks/certificates/test.pem" {
		t.Errorf("shaped %v", sns)
	}
}

// TestServeErrorsNameTheFlag starts serve with one setting wrong at a time: each error names the
// flag to change.
func TestServeErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	aFile := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(aFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for flag, args := range map[string][]string{
		"--addr":         {"--addr", taken.Addr().String()},
		"--metrics-addr": {"--metrics-addr", taken.Addr().String()},
		"--database":     {"--database", "mysql://db/switchyard"},
		"--data-dir":     {"--data-dir", filepath.Join(aFile, "data")},
		"--tls-cert":     {"--tls-cert", "missing-cert.pem", "--tls-key", "missing-key.pem"},
	} {
		base := []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-token", "flags-admin"}
		_, _, err := runCLI(t, append(base, args...)...)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("serve %v: err %v, want one naming %s", args, err, flag)
		}
	}
}
