package api_test

import (
	"fmt"
	"go/format"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// versionEcho answers every request with the plugin version it was shaped by, which the versioned
// plugin's on_response checks against its own: a delivery shaped by one version and judged by the
// other fails. A little latency keeps deliveries in flight across the swap.
func versionEcho(rc *nodetest.Receiver) {
	rc.SetRespond(func(n int, r *nodetest.Request) (int, http.Header, string) {
		time.Sleep(15 * time.Millisecond)
		return http.StatusOK, http.Header{"X-Saw-Version": {r.Header.Get("X-Plugin-Version")}}, ""
	})
}

// TestHotSwapUnderLoad publishes continuously while a new version of the plugin is uploaded. No
// delivery fails, each attempt records the version that shaped it (the receiver saw the same one),
// and once the upload has answered, every attempt that starts uses the new version.
func TestHotSwapUnderLoad(t *testing.T) {
	t.Parallel()
	v1, v2 := runtimetest.Build(t, "testdata/versioned/v1"), runtimetest.Build(t, "testdata/versioned/v2")
	node := nodetest.Start(t, nodetest.Options{Configure: roomy})
	rc := nodetest.NewReceiver(t)
	versionEcho(rc)
	tn := node.NewTenant("swap", "")
	var up1, up2 uploaded
	node.Admin.MustDo("PUT", "/v1/plugins/versioned", v1, http.StatusCreated, &up1)
	sub := subscribe(t, tn, rc.URL, map[string]any{"format": "versioned", "events": []string{"*"}})

	// Publish continuously, one event every few milliseconds, until well after the swap.
	var published atomic.Int64
	stop := make(chan struct{})
	publishing := make(chan struct{})
	go func() {
		defer close(publishing)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			publish(t, tn, map[string]any{"data": map[string]any{"n": i}})
			published.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitPublished := func(n int64) {
		for published.Load() < n {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitPublished(30)
	swapStart := time.Now()
	node.Admin.MustDo("PUT", "/v1/plugins/versioned", v2, http.StatusOK, &up2)
	swapEnd := time.Now()
	waitPublished(published.Load() + 30)
	close(stop)
	<-publishing
	total := int(published.Load())
	if up2.Replaced != up1.Module || up2.Version != "2.0.0" {
		t.Fatalf("second upload: %+v", up2)
	}

	// Every delivery succeeds, at its first attempt.
	var all []delivery
	deadline := time.Now().Add(90 * time.Second)
	for {
		all = all[:0]
		cursor := ""
		for {
			var page listOf[delivery]
			tn.App.MustDo("GET", "/v1/deliveries?limit=200&subscription_id="+sub.ID+"&before="+cursor, nil, http.StatusOK, &page)
			all = append(all, page.Data...)
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		done := 0
		for _, d := range all {
			if d.State == "succeeded" || d.State == "failed" || d.State == "dead" {
				done++
			}
		}
		if len(all) == total && done == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries finished", done, len(all))
		}
		time.Sleep(50 * time.Millisecond)
	}
	sawByDelivery := map[string]string{}
	for _, r := range rc.Requests() {
		sawByDelivery[r.Header.Get("X-Delivery-Id")] = r.Header.Get("X-Plugin-Version")
	}
	modules := map[string]string{"1.0.0": up1.Module, "2.0.0": up2.Module}
	count := map[string]int{}
	var lastV1Start, firstV2Start time.Time
	for _, item := range all {
		var d delivery
		tn.App.MustDo("GET", "/v1/deliveries/"+item.ID, nil, http.StatusOK, &d)
		if d.State != "succeeded" || len(d.AttemptLog) != 1 {
			t.Errorf("delivery %s: %s after %d attempts: %+v", d.ID, d.State, len(d.AttemptLog), d.AttemptLog)
			continue
		}
		a := d.AttemptLog[0]
		count[a.PluginVersion]++
		if want := modules[sawByDelivery[d.ID]]; a.PluginVersion != want {
			t.Errorf("delivery %s: attempt records %q, but the receiver saw version %q", d.ID, a.PluginVersion, sawByDelivery[d.ID])
		}
		switch a.PluginVersion {
		case up1.Module:
			if a.StartedAt.After(lastV1Start) {
				lastV1Start = a.StartedAt
			}
			if a.StartedAt.After(swapEnd) {
				t.Errorf("delivery %s started at %v, after the swap answered (%v), and used the old version", d.ID, a.StartedAt, swapEnd)
			}
		case up2.Module:
			if firstV2Start.IsZero() || a.StartedAt.Before(firstV2Start) {
				firstV2Start = a.StartedAt
			}
			if a.StartedAt.Add(time.Millisecond).Before(swapStart) {
				t.Errorf("delivery %s used the new version at %v, before the upload began (%v)", d.ID, a.StartedAt, swapStart)
			}
		}
	}
	if count[up1.Module] == 0 || count[up2.Module] == 0 || count[up1.Module]+count[up2.Module] != total {
		t.Fatalf("attempts by version: %v", count)
	}
	t.Logf("%d deliveries: %d by %s (last started %s), %d by %s (first started %s); the upload took %v",
		total, count[up1.Module], up1.Module, lastV1Start.Format("15:04:05.000"), count[up2.Module], up2.Module,
		firstV2Start.Format("15:04:05.000"), swapEnd.Sub(swapStart).Round(time.Millisecond))

	// The old version is closed once its last delivery is done; only the new one is listed.
	var list pluginList
	node.Admin.MustDo("GET", "/v1/plugins", nil, http.StatusOK, &list)
	for _, p := range list.Data {
		// Two calls per delivery (shape, on_response), and the dry run that validated it.
		if want := int64(2*count[up2.Module] + 1); p.Name == "versioned" && (p.Module != up2.Module || p.Stats.Calls != want || p.Stats.Errors != 0) {
			t.Errorf("listed %s with %+v; want %s with %d calls", p.Module, *p.Stats, up2.Module, want)
		}
	}
}

// TestPluginsDir loads the folder's modules at start and picks up new, changed and removed files
// while serving.
func TestPluginsDir(t *testing.T) {
	t.Parallel()
	v1, v2, ce := runtimetest.Build(t, "testdata/versioned/v1"), runtimetest.Build(t, "testdata/versioned/v2"), cloudeventsWasm(t)
	dir := t.TempDir()
	// Deployments replace files by renaming a complete one into place.
	place := func(name string, wasm []byte) {
		t.Helper()
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	place("versioned.wasm", v1)
	if err := os.WriteFile(filepath.Join(dir, "broken.wasm"), []byte("\x00asm garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		roomy(c)
		c.PluginsDir, c.PluginsPollInterval, c.TrustedPlugins = dir, 20*time.Millisecond, []string{"versioned"}
	}})
	get := func(name string) (custom.Info, int) {
		var info custom.Info
		r := node.Admin.Do("GET", "/v1/plugins/"+name, nil)
		if r.Status == http.StatusOK {
			r.JSON(t, &info)
		}
		return info, r.Status
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		// A changed file is compiled before it is swapped in; on a cold cache, under the race
		// detector on a busy machine, that alone has taken over 20 s.
		deadline := time.Now().Add(2 * time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("the plugins folder: %s did not happen", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Loaded at start, before serving; trusted as the operator said; the broken file is logged.
	info, status := get("versioned")
	if status != http.StatusOK || info.Version != "1.0.0" || info.Mode != "trusted" || info.Source != custom.SourceDir || info.File != filepath.Join(dir, "versioned.wasm") {
		t.Fatalf("at start: %d %+v", status, info)
	}
	if !strings.Contains(node.Logs.String(), "broken.wasm") || !strings.Contains(node.Logs.String(), "not a valid WebAssembly module") {
		t.Errorf("the broken file was not reported:\n%s", node.Logs)
	}
	// The folder owns its plugins: the API cannot replace or delete them.
	r := node.Admin.Do("PUT", "/v1/plugins/versioned", v2)
	if r.Status != http.StatusConflict || !strings.Contains(errorMessage(t, r), "plugins folder") {
		t.Errorf("uploading over a folder plugin: %d %s", r.Status, r.Body)
	}

	rc := nodetest.NewReceiver(t)
	versionEcho(rc)
	tn := node.NewTenant("dir", "")
	subscribe(t, tn, rc.URL, map[string]any{"format": "versioned", "events": []string{"*"}})
	publish(t, tn, nil)
	if got := rc.WaitFor(t, 1, 15*time.Second)[0]; got.Header.Get("X-Plugin-Version") != "1.0.0" {
		t.Fatalf("shaped by %q", got.Header.Get("X-Plugin-Version"))
	}

	// A changed file swaps the version; a new file adds a plugin.
	place("versioned.wasm", v2)
	place("ce.wasm", ce)
	waitFor("the swap to 2.0.0", func() bool { info, _ := get("versioned"); return info.Version == "2.0.0" })
	waitFor("loading ce.wasm", func() bool { _, status := get("cloudevents"); return status == http.StatusOK })
	publish(t, tn, map[string]any{"entity": map[string]string{"type": "client", "id": "2"}})
	if got := rc.WaitFor(t, 2, 15*time.Second)[1]; got.Header.Get("X-Plugin-Version") != "2.0.0" {
		t.Fatalf("after the change, shaped by %q", got.Header.Get("X-Plugin-Version"))
	}

	// A removed file unloads its plugin, unless subscriptions use it.
	for _, name := range []string{"ce.wasm", "versioned.wasm"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("unloading cloudevents", func() bool { _, status := get("cloudevents"); return status == http.StatusNotFound })
	waitFor("the warning about versioned", func() bool {
		return strings.Contains(node.Logs.String(), "plugin keeps serving until the next start: subscriptions use it")
	})
	if _, status := get("versioned"); status != http.StatusOK {
		t.Errorf("a plugin in use was unloaded with its file: %d", status)
	}
}

// hostileNode is a node for hostile plugins, with a subscription in the standard format that must
// keep receiving every event while they misbehave.
type hostileNode struct {
	t    *testing.T
	node *nodetest.Node
	tn   *nodetest.Tenant
	rc   *nodetest.Receiver
	sent int
}

// startHostileNode starts a node with a small memory cap and output limit. Like the runtime's own
// hostile test, the plugins that never finish get a short deadline (slow) and the rest a long one,
// so that each fails for its own reason and not by running out of time on a busy machine.
func startHostileNode(t *testing.T, slow bool) *hostileNode {
	deadline := 20 * time.Second
	if slow {
		deadline = 2 * time.Second
	}
	node := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Runtime.MemoryLimitMiB, c.Runtime.MaxOutputBytes, c.Runtime.CallTimeout = 48, 1<<20, deadline
		// Each trap here must show as an attempt; TestLoopingPluginQuarantined tests quarantine.
		c.Runtime.QuarantineAfter = -1
	}})
	h := &hostileNode{t: t, node: node, rc: nodetest.NewReceiver(t), tn: node.NewTenant("hostile", "")}
	// An upload is compiled, started and dry-run under the deadline, each step of it.
	h.node.Admin.HTTP = &http.Client{Timeout: 5 * time.Minute}
	subscribe(t, h.tn, h.rc.URL+"/standard", map[string]any{"events": []string{"*"}})
	return h
}

// stillServing checks the node is healthy, publishes an event and waits for the standard
// subscription to have received every event so far.
func (h *hostileNode) stillServing(when string) {
	t := h.t
	t.Helper()
	h.node.Client("").MustDo("GET", "/healthz", nil, http.StatusOK, nil)
	h.sent++
	publish(t, h.tn, map[string]any{"type": "check.serving", "entity": map[string]string{"type": "check", "id": fmt.Sprint(h.sent)}})
	h.waitFor(when, "/standard", h.sent)
}

func (h *hostileNode) waitFor(when, path string, want int) {
	t := h.t
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, r := range h.rc.Requests() {
			if r.Path == path {
				n++
			}
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s got %d of %d events", when, path, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostilePluginsAreRefusedOrContained uploads each of the runtime's hostile modules, then the
// ones that misbehave only when called with a sample_event added so that their dry run trips, and
// then a plugin that passes validation and misbehaves at delivery time. The node keeps serving and
// another subscription keeps getting every event throughout.
func TestHostilePluginsAreRefusedOrContained(t *testing.T) {
	t.Parallel()
	nodes := map[bool]*hostileNode{false: startHostileNode(t, false), true: startHostileNode(t, true)}

	// 1. The runtime's hostile modules as they are. Those that load are refused for lacking a
	// sample_event; the rest for what Load finds.
	noSample := "manifest has no sample_event"
	for _, tc := range []struct {
		name, refusal string
		slow          bool
	}{
		{"loop", noSample, false}, {"membomb", noSample, false}, {"panic", noSample, false},
		{"nilderef", noSample, false}, {"bigoutput", noSample, false},
		{"initloop", "_initialize: timeout", true},
		{"badmanifest", `manifest name "Bad Name" must be 1-63 lowercase letters`, false},
		{"noexport", `is missing required export "shape"`, false},
		{"wrongabi", "abi_version() returned 99; this host speaks ABI versions 1 to 2", false},
		{"badimport", "imports switchyard.fetch_url, which the host does not provide", false},
	} {
		h := nodes[tc.slow]
		wasm := runtimetest.Build(t, "../runtime/testdata/hostile/"+tc.name)
		r := h.node.Admin.Do("PUT", "/v1/plugins/"+tc.name, wasm)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(errorMessage(t, r), tc.refusal) {
			t.Errorf("%s: %d %s, want 422 with %q", tc.name, r.Status, r.Body, tc.refusal)
		}
		h.stillServing("after uploading " + tc.name)
	}

	// 2. The same misbehaving code with a sample_event: the dry run trips, and says how.
	for _, tc := range []struct {
		name, refusal string
		slow          bool
	}{
		{"loop", "shape: timeout", true},
		{"membomb", "shape: out_of_memory", false},
		{"panic", "shape: panic: panic: plugin gave up on evt_test", false},
		{"nilderef", "nil pointer dereference", false},
		{"bigoutput", "shape: output_too_large", false},
	} {
		h := nodes[tc.slow]
		wasm := runtimetest.Build(t, withSampleEvent(t, tc.name))
		r := h.node.Admin.Do("PUT", "/v1/plugins/"+tc.name, wasm)
		if msg := errorMessage(t, r); r.Status != http.StatusUnprocessableEntity || !strings.Contains(msg, "the dry run of its sample_event failed") || !strings.Contains(msg, tc.refusal) {
			t.Errorf("%s with a sample event: %d %s, want 422 with %q", tc.name, r.Status, r.Body, tc.refusal)
		}
		h.stillServing("after uploading " + tc.name + " with a sample event")
	}
	for _, h := range nodes {
		var list pluginList
		h.node.Admin.MustDo("GET", "/v1/plugins", nil, http.StatusOK, &list)
		for _, p := range list.Data {
			if p.Source != custom.SourceBuiltin {
				t.Fatalf("a refused upload is loaded: %s from %s", p.Name, p.Source)
			}
		}
	}

	// 3. A module that passes validation and misbehaves at delivery time is contained there: each
	// attempt fails with the reason, the plugin keeps serving good events, and so does the node.
	trickster := runtimetest.Build(t, "testdata/trickster")
	for _, h := range nodes {
		h.node.Admin.MustDo("PUT", "/v1/plugins/trickster", trickster, http.StatusCreated, nil)
		subscribe(t, h.tn, h.rc.URL+"/trickster", map[string]any{"format": "trickster", "events": []string{"client.*"},
			"retry_policy": map[string]any{"schedule": []string{"50ms"}}})
	}
	for _, tc := range []struct {
		do, reason string
		slow       bool
	}{
		{"loop", "timeout", true}, {"membomb", "out_of_memory", false}, {"panic", "panic: trickster gave up", false},
		{"nilderef", "nil pointer dereference", false}, {"bigoutput", "output_too_large", false},
	} {
		h := nodes[tc.slow]
		ev := publish(t, h.tn, map[string]any{"data": map[string]string{"do": tc.do}, "entity": map[string]string{"type": "client", "id": tc.do}})
		var mine delivery
		deadline := time.Now().Add(90 * time.Second)
		for mine.State != "dead" {
			var l listOf[delivery]
			h.tn.App.MustDo("GET", "/v1/deliveries?event_id="+ev.ID, nil, http.StatusOK, &l)
			for _, d := range l.Data {
				var full delivery
				h.tn.App.MustDo("GET", "/v1/deliveries/"+d.ID, nil, http.StatusOK, &full)
				if len(full.AttemptLog) > 0 && strings.Contains(full.AttemptLog[0].Error, "trickster") {
					mine = full
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the trickster delivery is %q: %+v", tc.do, mine.State, mine.AttemptLog)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(mine.AttemptLog) != 2 || !strings.Contains(mine.AttemptLog[1].Error, tc.reason) {
			t.Errorf("%s: attempts %+v, want 2 failing with %q", tc.do, mine.AttemptLog, tc.reason)
		}
		h.sent++ // the standard subscription gets this client event too
		h.stillServing("after a delivery of " + tc.do)
	}
	traps := map[bool]int64{true: 2, false: 8} // two attempts per event: 1 event on the slow node, 4 on the other
	for slow, h := range nodes {
		publish(t, h.tn, map[string]any{"data": map[string]string{"do": "nothing"}})
		h.waitFor("a good event after the traps", "/trickster", 1)
		var info custom.Info
		h.node.Admin.MustDo("GET", "/v1/plugins/trickster", nil, http.StatusOK, &info)
		if info.Stats.Traps != traps[slow] || info.Stats.Errors != traps[slow] {
			t.Errorf("trickster stats %+v, want %d traps", *info.Stats, traps[slow])
		}
	}
}

// withSampleEvent writes a copy of a runtime hostile module's source with a sample_event in its
// manifest, and returns its folder. The copy lives in the repository's build folder, so it builds
// in the main module like the original.
func withSampleEvent(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "runtime", "testdata", "hostile", name, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	const manifestEnd = `Events: []sdk.EventType{{Type: "*"}}}`
	if strings.Count(string(src), manifestEnd) != 1 {
		t.Fatalf("runtime/testdata/hostile/%s: cannot find where its manifest ends (%s)", name, manifestEnd)
	}
	out := strings.Replace(string(src), manifestEnd,
		`Events: []sdk.EventType{{Type: "*"}}, SampleEvent: []byte(`+"`"+`{"type":"client.create","data":{}}`+"`"+`)}`, 1)
	formatted, err := format.Source([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	out = string(formatted)
	// Under a testdata folder, so that ./... patterns (go test, go vet) leave it alone.
	dir := filepath.Join(runtimetest.RepoRoot(t), "build", "testdata", "hostile-with-sample", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if old, _ := os.ReadFile(filepath.Join(dir, "main.go")); string(old) != out {
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
