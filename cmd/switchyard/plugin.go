package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/wasmbuild"
	"github.com/switchyard/switchyard/sdk"
)

func runPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: plugin needs a subcommand: build or test", errUsage)
	}
	switch args[0] {
	case "build":
		return pluginBuild(ctx, args[1:], stdout, stderr)
	case "test":
		return pluginTest(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown plugin subcommand %q", errUsage, args[0])
}

// pluginBuild compiles a plugin and then loads it the way the server would, so a module that the
// server would refuse fails here, with the same message.
func pluginBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin build", stderr)
	out := fs.String("o", "", "output file (default: DIR's name + .wasm, in the current folder)")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: plugin build DIR [-o FILE]", errUsage)
	}
	dir := fs.Arg(0)
	if *out == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		*out = filepath.Base(abs) + ".wasm"
	}
	if err := wasmbuild.Build(ctx, dir, *out); err != nil {
		return err
	}
	wasm, err := os.ReadFile(*out)
	if err != nil {
		return err
	}
	p, closeRT, err := loadPlugin(ctx, wasm, runtime.Sandboxed)
	if err != nil {
		return fmt.Errorf("built %s, but the server would refuse it: %w", *out, err)
	}
	defer closeRT()
	m := p.Manifest()
	fmt.Fprintf(stdout, "built %s (%d KiB): %s %s, ABI %d, events %s, hooks [%s]\n",
		*out, len(wasm)/1024, m.Name, m.Version, m.ABI, eventList(m.Events), strings.Join(m.Hooks, ", "))
	return nil
}

func eventList(events []sdk.EventType) string {
	var parts []string
	for _, e := range events {
		if e.Name != "" {
			parts = append(parts, e.Type+"->"+e.Name)
		} else {
			parts = append(parts, e.Type)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// testSubscription is what --subscription reads: the fields of the subscription API that reach a
// plugin.
type testSubscription struct {
	ID        string            `json:"id"`
	URL       string            `json:"url"`
	Secret    string            `json:"secret"`
	EntityKey string            `json:"entity_key"`
	Options   map[string]string `json:"options"`
}

// pluginTest shapes one event with a plugin, through the same runtime and the same input the
// dispatcher builds, and prints the request a subscriber would receive.
func pluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin test", stderr)
	pluginFile := fs.String("plugin", "", "the plugin's .wasm file")
	eventFile := fs.String("event", "", "an event as POST /v1/events takes it (JSON)")
	subFile := fs.String("subscription", "", "optional subscription JSON: url, secret, entity_key, options")
	trusted := fs.Bool("trusted", false, "run the plugin trusted, as the server runs built-in plugins")
	asJSON := fs.Bool("json", false, "print the request as JSON")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *pluginFile == "" || *eventFile == "" {
		return fmt.Errorf("%w: plugin test --plugin FILE.wasm --event EVENT.json [--subscription SUB.json]", errUsage)
	}
	wasm, err := os.ReadFile(*pluginFile)
	if err != nil {
		return err
	}
	var ev engine.Event
	if err := readJSONFile(*eventFile, &ev); err != nil {
		return err
	}
	sub := testSubscription{URL: "https://receiver.example/webhooks"}
	if *subFile != "" {
		if err := readJSONFile(*subFile, &sub); err != nil {
			return err
		}
	}
	secretNote := ""
	if sub.Secret == "" {
		sub.Secret = engine.NewSigningSecret()
		secretNote = "# signed with a generated secret: " + sub.Secret + "\n"
	}
	mode := runtime.Sandboxed
	if *trusted {
		mode = runtime.Trusted
	}
	p, closeRT, err := loadPlugin(ctx, wasm, mode)
	if err != nil {
		return err
	}
	defer closeRT()

	now := time.Now().UTC()
	fillTestEvent(&ev, now)
	s := &engine.Subscription{
		ID: defaultString(sub.ID, "sub_test"), AppID: "app_test", AccountID: ev.AccountID, Format: p.Manifest().Name,
		URL: sub.URL, EntityKey: sub.EntityKey, Options: sub.Options, Secret: sub.Secret,
	}
	d := &engine.Delivery{ID: "dlv_test", EventID: ev.ID, SubscriptionID: s.ID, Kind: engine.DeliveryEvent}
	// Styles that use the URLs the host mints, or sign with the server key, get placeholders and a
	// throwaway key, so that every plugin can be tried here.
	urls := engine.DeliveryURLs{
		Callback:    "https://switchyard.example/hooks/callbacks/test",
		Confirm:     engine.ConfirmURL("https://switchyard.example", "test-token"),
		Unsubscribe: engine.UnsubscribeURL("https://switchyard.example", "test-token"),
		Certificate: "https://switchyard.example/hooks/certificates/test.pem",
	}
	in := engine.PluginInput(&ev, s, &engine.App{ID: "app_test", Name: "Test app"}, &engine.Account{ID: ev.AccountID, Name: "Test account"}, d, urls)
	keys := engine.Keys(s, nil, now)
	if keys.Server, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return err
	}
	req, err := p.Shape(ctx, in, keys)
	if err != nil {
		return err
	}
	method := defaultString(req.Method, "POST")
	url := engine.RequestURL(s, req)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"method": method, "url": url, "headers": req.Headers, "body": string(req.Body), "secret": sub.Secret})
	}
	fmt.Fprint(stdout, secretNote)
	fmt.Fprintf(stdout, "%s %s\n", method, url)
	for _, h := range req.Headers {
		fmt.Fprintf(stdout, "%s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintf(stdout, "\n%s\n", req.Body)
	return nil
}

// fillTestEvent gives an event read from a file what the publishing API would have given it.
func fillTestEvent(ev *engine.Event, now time.Time) {
	ev.ID = defaultString(ev.ID, "evt_test")
	ev.AccountID = defaultString(ev.AccountID, "acc_test")
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now.Truncate(time.Millisecond)
	}
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage("{}")
	}
}

func loadPlugin(ctx context.Context, wasm []byte, mode runtime.Mode) (*runtime.Plugin, func(), error) {
	rt, err := runtime.New(ctx, runtime.Config{PoolSize: 1})
	if err != nil {
		return nil, nil, err
	}
	p, err := rt.Load(ctx, wasm, mode)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	return p, func() { _ = rt.Close(context.Background()) }, nil
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// parseInterspersed parses flags that may come before or after positional arguments, as users type
// "plugin build ./dir -o x.wasm".
func parseInterspersed(fs interface {
	Parse([]string) error
	Args() []string
}, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}
