package api_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

func cloudeventsWasm(t *testing.T) []byte {
	return runtimetest.Build(t, "../examples/cloudevents/wasm")
}

// roomy gives sandboxed calls a deadline far above what they need, for tests where the deadline is
// not what is tested: under the race detector on a busy machine, starting a Go plugin's instance
// has taken over a second.
func roomy(c *node.Config) { c.Runtime.CallTimeout = 15 * time.Second }

type pluginList struct {
	Data []custom.Info `json:"data"`
}

type uploaded struct {
	custom.Info
	Replaced string `json:"replaced"`
}

func errorMessage(t *testing.T, r *nodetest.Response) string {
	t.Helper()
	var b struct {
		Error struct{ Code, Message string }
	}
	r.JSON(t, &b)
	return b.Error.Message
}

// TestCustomPluginLifecycle uploads a plugin, delivers with it, refuses to delete it while a
// subscription uses it, survives a restart with it, and deletes it.
func TestCustomPluginLifecycle(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	node := nodetest.Start(t, nodetest.Options{DataDir: dataDir, Configure: roomy})
	rc := nodetest.NewReceiver(t)
	tn := node.NewTenant("ce", "")
	wasm := cloudeventsWasm(t)

	// Only the operator uploads.
	if r := tn.App.Do("PUT", "/v1/plugins/cloudevents", wasm); r.Status != http.StatusForbidden {
		t.Fatalf("an app's upload: %d %s", r.Status, r.Body)
	}
	var up uploaded
	node.Admin.MustDo("PUT", "/v1/plugins/cloudevents", wasm, http.StatusCreated, &up)
	if up.Name != "cloudevents" || up.Version != "1.0.0" || up.Mode != "sandboxed" || up.Source != custom.SourceUpload ||
		len(up.Hash) != 64 || !strings.HasPrefix(up.Module, "cloudevents@1.0.0#"+up.Hash[:12]) || up.Replaced != "" {
		t.Fatalf("upload answered %+v", up)
	}
	// The same module again changes nothing.
	node.Admin.MustDo("PUT", "/v1/plugins/cloudevents", wasm, http.StatusOK, &up)
	if up.Replaced != "" {
		t.Errorf("re-uploading the same module replaced %q", up.Replaced)
	}

	sub := subscribe(t, tn, rc.URL+"/ce", map[string]any{"format": "cloudevents", "events": []string{"*"}})
	ev := publish(t, tn, nil)
	got := rc.WaitFor(t, 1, 15*time.Second)[0]
	if got.Header.Get("ce-specversion") != "1.0" || got.Header.Get("ce-type") != "com.switchyard.client.create" ||
		got.Header.Get("ce-subject") != "client/42" || string(got.Body) != `{"id":42,"name":"Acme"}` {
		t.Fatalf("receiver got %v %s", got.Header, got.Body)
	}
	d := deliveryOf(t, tn, ev.ID, "succeeded")
	if d.AttemptLog[0].PluginVersion != up.Module {
		t.Errorf("attempt records plugin %q, want %q", d.AttemptLog[0].PluginVersion, up.Module)
	}

	// The list: every plugin, the built-in ones too; counters for the operator only.
	var list pluginList
	node.Admin.MustDo("GET", "/v1/plugins", nil, http.StatusOK, &list)
	var ce, std *custom.Info
	for i := range list.Data {
		switch list.Data[i].Name {
		case "cloudevents":
			ce = &list.Data[i]
		case "standard":
			std = &list.Data[i]
		}
	}
	if ce == nil || std == nil || ce.Stats == nil || ce.Stats.Calls < 1 || ce.Stats.Errors != 0 || len(ce.Events) != 1 || ce.Events[0].Type != "*" {
		t.Fatalf("plugin list %+v", list.Data)
	}
	if std.Source != custom.SourceBuiltin || std.Mode != "trusted" {
		t.Errorf("standard listed as %+v", std)
	}
	var one custom.Info
	tn.App.MustDo("GET", "/v1/plugins/cloudevents", nil, http.StatusOK, &one)
	if one.Hash != up.Hash || one.Stats != nil {
		t.Errorf("an app sees %+v", one)
	}
	if r := tn.App.Do("GET", "/v1/plugins/nosuch", nil); r.Status != http.StatusNotFound {
		t.Errorf("GET of a missing plugin: %d", r.Status)
	}

	// Built-in plugins are not the API's to change.
	r := node.Admin.Do("PUT", "/v1/plugins/standard", wasm)
	if r.Status != http.StatusConflict || !strings.Contains(errorMessage(t, r), "built into this binary") {
		t.Errorf("replacing a built-in: %d %s", r.Status, r.Body)
	}
	if r := node.Admin.Do("DELETE", "/v1/plugins/standard", nil); r.Status != http.StatusConflict {
		t.Errorf("deleting a built-in: %d %s", r.Status, r.Body)
	}

	// In use: refused, naming the subscription, and nothing changes.
	r = node.Admin.Do("DELETE", "/v1/plugins/cloudevents", nil)
	if r.Status != http.StatusConflict || !strings.Contains(errorMessage(t, r), sub.ID) {
		t.Fatalf("deleting a plugin in use: %d %s", r.Status, r.Body)
	}
	publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": "43"}})
	rc.WaitFor(t, 2, 15*time.Second)

	// Uploads survive a restart.
	if err := node.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	node = nodetest.Start(t, nodetest.Options{DataDir: dataDir, Configure: roomy})
	tn.App.Base = node.URL()
	node.Admin.MustDo("GET", "/v1/plugins/cloudevents", nil, http.StatusOK, &one)
	if one.Hash != up.Hash || one.Source != custom.SourceUpload {
		t.Fatalf("after a restart: %+v", one)
	}
	publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": "44"}})
	if got := rc.WaitFor(t, 3, 15*time.Second)[2]; got.Header.Get("ce-subject") != "client/44" {
		t.Fatalf("after a restart the receiver got %v", got.Header)
	}

	tn.App.MustDo("DELETE", "/v1/subscriptions/"+sub.ID, nil, http.StatusNoContent, nil)
	node.Admin.MustDo("DELETE", "/v1/plugins/cloudevents", nil, http.StatusNoContent, nil)
	node.Admin.MustDo("GET", "/v1/plugins/cloudevents", nil, http.StatusNotFound, nil)
	if _, err := os.Stat(filepath.Join(dataDir, "plugins", "cloudevents.wasm")); !os.IsNotExist(err) {
		t.Errorf("the deleted plugin's module is still stored: %v", err)
	}
	r = tn.App.Do("POST", "/v1/subscriptions", map[string]any{"account_id": tn.AccountID, "format": "cloudevents", "events": []string{"*"}, "url": rc.URL})
	if r.Status != http.StatusUnprocessableEntity {
		t.Errorf("subscribing to a deleted plugin: %d %s", r.Status, r.Body)
	}
}

// TestUploadRefusals: what is wrong with a module is said exactly, with 422; a body over the cap
// is 413; nothing is stored or changed by a refusal.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	node := nodetest.Start(t, nodetest.Options{DataDir: dataDir, Configure: func(c *node.Config) { roomy(c); c.MaxPluginBytes = 4 << 20 }})
	wasm := cloudeventsWasm(t)
	cases := []struct {
		name, path string
		body       []byte
		status     int
		message    string
	}{
		{"garbage", "/v1/plugins/junk", []byte("definitely not wasm"), 422, "not a valid WebAssembly module"},
		{"name mismatch", "/v1/plugins/other", wasm, 422, `the manifest's name is "cloudevents", but it was uploaded as "other"`},
		{"bad name", "/v1/plugins/Bad%20Name", wasm, 422, "must be 1-63 lowercase letters"},
		{"bad trusted flag", "/v1/plugins/cloudevents?trusted=maybe", wasm, 422, "trusted: must be true or false"},
		{"empty", "/v1/plugins/cloudevents", []byte{}, 422, "must be the plugin's .wasm module"},
		{"too large", "/v1/plugins/cloudevents", make([]byte, 4<<20+1), 413, "too large"},
	}
	for _, tc := range cases {
		r := node.Admin.Do("PUT", tc.path, tc.body)
		if r.Status != tc.status || !strings.Contains(errorMessage(t, r), tc.message) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, r.Status, r.Body, tc.status, tc.message)
		}
	}
	var list pluginList
	node.Admin.MustDo("GET", "/v1/plugins", nil, http.StatusOK, &list)
	for _, p := range list.Data {
		if p.Source != custom.SourceBuiltin {
			t.Errorf("a refused upload is loaded: %+v", p)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "plugins")); len(entries) != 0 {
		t.Errorf("refused uploads left files: %v", entries)
	}
}
