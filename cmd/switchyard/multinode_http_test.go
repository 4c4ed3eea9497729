package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestTwoNodesOverHTTPRevocationAndPlugin runs two `serve` processes of the built binary on one
// throwaway PostgreSQL database and talks to them only over HTTP, on loopback:
//
//   - an API key made through node A authenticates on node B (which then holds it in its cache);
//     revoked through node A, node B refuses it (401) on the very next request after A's answer,
//     then A and B keep refusing it, while another key of the same app still works on B;
//   - a portal link made through node A is traded through node B; its session works on B and A;
//     the link cannot be traded again through A; the app's portal sessions revoked through B, the
//     session is refused (401) on A on the very next request, and on B;
//   - a plugin scaffolded and built by the test (its Shape adds a header carrying a value drawn by the
//     test, so no other module can produce it) is uploaded through node A only; node B serves the
//     same module (same hash, within 60 s: B validates and compiles it itself); node A is then
//     stopped (SIGTERM), and through node B alone a subscription in that format is created and an
//     event published; the receiver gets one request, shaped by the uploaded module (its header, its
//     envelope, a signature that verifies), and B's deliveries API shows the delivery of that event
//     succeeded in one attempt recording that module.
func TestTwoNodesOverHTTPRevocationAndPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two servers as subprocesses")
	}
	t.Parallel()

	// The plugin: the scaffold `switchyard plugin new` writes, with one header added whose value only
	// this module carries.
	marker := rand.Text()
	const format = "mn-relay"
	pluginDir := filepath.Join(t.TempDir(), format)
	if _, _, err := runCLI(t, "plugin", "new", format, "--dir", pluginDir, "--sdk", "../../sdk"); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(pluginDir, "plugin.go"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = `req.SetHeader("content-type", "application/json")`
	if !bytes.Contains(src, []byte(anchor)) {
		t.Fatalf("the scaffold's plugin.go no longer sets %s; the test adds its header after it", anchor)
	}
	src = bytes.Replace(src, []byte(anchor), []byte(anchor+"\n\treq.SetHeader(\"x-shaped-by\", \""+marker+"\")"), 1)
	if err := os.WriteFile(filepath.Join(pluginDir, "plugin.go"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	wasmPath := filepath.Join(t.TempDir(), format+".wasm")
	if out, _, err := runCLI(t, "plugin", "build", pluginDir, "-o", wasmPath); err != nil {
		t.Fatalf("plugin build: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	wasmHash := sha256.Sum256(wasm)

	bin := buildBinary(t)
	db := pgtest.NewDatabase(t)
	flags := []string{"--database", db}
	nodeA := startServer(t, bin, freeAddr(t), t.TempDir(), append(flags, "--node-id", "node-a")...)
	nodeB := startServer(t, bin, freeAddr(t), t.TempDir(), append(flags, "--node-id", "node-b")...)
	stopped := map[*serverProcess]error{}
	stop := func(p *serverProcess) error {
		if err, done := stopped[p]; done {
			return err
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		err := p.cmd.Wait()
		stopped[p] = err
		return err
	}
	t.Cleanup(func() { _ = stop(nodeA); _ = stop(nodeB) })
	// fail stops both nodes first, so that their logs are read once nothing writes them.
	fail := func(msg string, args ...any) {
		t.Helper()
		_, _ = stop(nodeA), stop(nodeB)
		t.Fatalf(msg+"\n--- node A\n%s\n--- node B\n%s", append(args, nodeA.log, nodeB.log)...)
	}
	a, b := "http://"+nodeA.addr, "http://"+nodeB.addr
	call := func(base, token, method, path string, body, out any) int {
		t.Helper()
		status, err := apiCall(base, token, method, path, body, out)
		if err != nil {
			fail("%s%s: %v", base, path, err)
		}
		return status
	}
	// status sends a request with no body and returns only the answer's status.
	status := func(base, token, method, path string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fail("%s %s%s: %v", method, base, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	// Through node A, as the operator: an account, an app it grants its client events, two API keys.
	var acct, app struct{ ID string }
	call(a, "crash-admin", "POST", "/v1/accounts", map[string]string{"name": "two nodes"}, &acct)
	call(a, "crash-admin", "POST", "/v1/apps", map[string]string{"name": "two nodes"}, &app)
	call(a, "crash-admin", "POST", "/v1/accounts/"+acct.ID+"/grants", map[string]any{"app_id": app.ID, "events": []string{"client.*"}}, nil)
	var revoked, kept struct{ ID, Token string }
	call(a, "crash-admin", "POST", "/v1/apps/"+app.ID+"/credentials", map[string]string{"kind": "api_key"}, &revoked)
	call(a, "crash-admin", "POST", "/v1/apps/"+app.ID+"/credentials", map[string]string{"kind": "api_key"}, &kept)

	// Revocation: B accepts the key (and caches it), A revokes it, B refuses it.
	for _, base := range []string{b, a, b} {
		if s := status(base, revoked.Token, "GET", "/v1/subscriptions"); s != http.StatusOK {
			fail("before the revocation, GET /v1/subscriptions with the key through %s answered %d, want 200", base, s)
		}
	}
	if s := status(a, "crash-admin", "DELETE", "/v1/credentials/"+revoked.ID); s != http.StatusOK && s != http.StatusNoContent {
		fail("revoking the key through node A answered %d", s)
	}
	// The very next request through B, started after A answered: refused (B reads the credential
	// again on every use, so no notification needs to have arrived).
	for _, base := range []string{b, a, b} {
		if s := status(base, revoked.Token, "GET", "/v1/subscriptions"); s != http.StatusUnauthorized {
			fail("after the revocation through node A, the key got %d through %s, want 401", s, base)
		}
	}
	if s := status(b, kept.Token, "GET", "/v1/subscriptions"); s != http.StatusOK {
		fail("the app's other key got %d through node B, want 200", s)
	}

	// Portal: a link made through A is traded through B; its session works on both; the link is
	// spent on A too; revoked through B, the session is refused on A on the very next request.
	var link struct{ URL string }
	call(a, "crash-admin", "POST", "/v1/apps/"+app.ID+"/portal-sessions", nil, &link)
	_, code, found := strings.Cut(link.URL, "#portal=")
	if !found || code == "" {
		fail("node A's portal link %q has no code", link.URL)
	}
	var sess struct {
		Token string
		AppID string `json:"app_id"`
	}
	call(b, "", "POST", "/v1/portal/exchange", map[string]string{"code": code}, &sess)
	if sess.AppID != app.ID {
		fail("the link made through A opened app %q through B, want %q", sess.AppID, app.ID)
	}
	for _, base := range []string{b, a} {
		if s := status(base, sess.Token, "GET", "/v1/subscriptions"); s != http.StatusOK {
			fail("the portal session traded through B got %d through %s, want 200", s, base)
		}
	}
	if s, _ := apiCall(a, "", "POST", "/v1/portal/exchange", map[string]string{"code": code}, nil); s != http.StatusUnauthorized {
		fail("the link traded through B was traded again through A: %d, want 401", s)
	}
	if s := status(b, "crash-admin", "DELETE", "/v1/apps/"+app.ID+"/portal-sessions"); s != http.StatusOK {
		fail("revoking the app's portal sessions through B answered %d", s)
	}
	for _, base := range []string{a, b} {
		if s := status(base, sess.Token, "GET", "/v1/subscriptions"); s != http.StatusUnauthorized {
			fail("after the revocation through B, the portal session got %d through %s, want 401", s, base)
		}
	}

	// Plugin: uploaded through A only.
	req, err := http.NewRequest("PUT", a+"/v1/plugins/"+format, bytes.NewReader(wasm))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer crash-admin")
	uploadedAt := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("upload through A: %v", err)
	}
	rawUp, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var up struct{ Module, Hash string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(rawUp, &up) != nil || up.Hash != hex.EncodeToString(wasmHash[:]) {
		fail("upload through A: %d %s, want 201 with hash %x", resp.StatusCode, rawUp, wasmHash)
	}
	// B loads it (told through the database; it validates and compiles the module itself).
	for {
		var info struct{ Module, Hash string }
		if s, _ := apiCall(b, "crash-admin", "GET", "/v1/plugins/"+format, nil, &info); s == http.StatusOK {
			if info.Hash != up.Hash || info.Module != up.Module {
				fail("node B serves %s (%s), A uploaded %s (%s)", info.Module, info.Hash, up.Module, up.Hash)
			}
			break
		}
		if time.Since(uploadedAt) > 60*time.Second {
			fail("node B did not serve the plugin uploaded through A within 60 s of the upload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("plugin %s uploaded through A served on B %v after the upload was sent", up.Module, time.Since(uploadedAt))

	// A stops: from here on B alone has the plugin, creates the subscription and delivers.
	if err := stop(nodeA); err != nil {
		t.Logf("node A's exit after SIGTERM: %v", err)
	}
	if _, err := http.Get(a + "/readyz"); err == nil {
		fail("node A still answers after it exited")
	}

	type received struct {
		header http.Header
		body   []byte
	}
	got := make(chan received, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()

	const secret = "two-nodes-secret-0123456789"
	var sub struct{ ID, Format string }
	call(b, kept.Token, "POST", "/v1/subscriptions", map[string]any{
		"account_id": acct.ID, "format": format, "events": []string{"client.*"}, "url": rc.URL + "/hooks", "secret": secret,
	}, &sub)
	var ev struct{ ID string }
	call(b, "crash-admin", "POST", "/v1/events", map[string]any{
		"account_id": acct.ID, "type": "client.create", "entity": map[string]string{"type": "client", "id": "42"},
		"data": map[string]any{"id": 42, "name": marker},
	}, &ev)

	var r received
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		fail("node B delivered nothing within 30 s")
	}
	if v := r.header.Get("x-shaped-by"); v != marker {
		fail("the receiver got x-shaped-by %q, want %q: not shaped by the uploaded module (headers %v)", v, marker, r.header)
	}
	if v := r.header.Get("x-webhook-event"); v != "client.create" {
		fail("x-webhook-event %q, want client.create", v)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(r.header.Get("x-webhook-timestamp") + "." + string(r.body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.header.Get("x-webhook-signature") != want {
		fail("x-webhook-signature %q, want %q", r.header.Get("x-webhook-signature"), want)
	}
	var envelope struct {
		ID, Type string
		Entity   struct{ Type, ID string }
		Data     struct {
			ID   int
			Name string
		}
	}
	if err := json.Unmarshal(r.body, &envelope); err != nil || envelope.Type != "client.create" || envelope.Entity.ID != "42" ||
		envelope.Data.Name != marker || envelope.ID != r.header.Get("x-webhook-id") || !strings.HasPrefix(envelope.ID, "dlv_") {
		fail("the receiver got %s (%v), want the scaffold's envelope of the event", r.body, err)
	}

	// B's deliveries API: the delivery succeeded, its attempt shaped by the module A uploaded.
	var d struct {
		ID, State  string
		EventID    string `json:"event_id"`
		AttemptLog []struct {
			PluginVersion string `json:"plugin_version"`
			Outcome       string
		} `json:"attempt_log"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		call(b, kept.Token, "GET", "/v1/deliveries/"+envelope.ID, nil, &d)
		if d.State != "pending" && d.State != "in_flight" {
			break
		}
		if time.Now().After(deadline) {
			fail("delivery %s still %s 10 s after the receiver answered", d.ID, d.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.State != "succeeded" || d.EventID != ev.ID || len(d.AttemptLog) != 1 ||
		d.AttemptLog[0].PluginVersion != up.Module || d.AttemptLog[0].Outcome != "success" {
		fail("delivery through B: %+v; want succeeded, for event %s, one attempt by %s", d, ev.ID, up.Module)
	}
	select {
	case extra := <-got:
		fail("the receiver got a second request: %s", extra.body)
	default:
	}
	t.Logf("with node A stopped, node B created a %s subscription and delivered event %s in the uploaded format (%s)", format, ev.ID, up.Module)
}
