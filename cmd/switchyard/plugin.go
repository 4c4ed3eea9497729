package main

import (
	"bytes"
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
	"github.com/switchyard/switchyard/runtime/custom"
	"github.com/switchyard/switchyard/runtime/wasmbuild"
	"github.com/switchyard/switchyard/sdk"
)

const pluginUsage = `Usage:
  switchyard plugin new NAME [--dir DIR]    scaffold a plugin folder (Go, against sdk/) that builds at once
  switchyard plugin build DIR [-o FILE]     compile a Go plugin (DIR or DIR/wasm) to WebAssembly
  switchyard plugin test --plugin FILE.wasm --event EVENT.json [--subscription SUB.json]
                                            shape one event and print the request

Run "switchyard plugin SUBCOMMAND -h" for its flags.
`

func runPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return fmt.Errorf("%w: plugin needs a subcommand: new, build or test", errUsage)
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, pluginUsage)
		return nil
	case "new":
		return pluginNew(ctx, args[1:], stdout, stderr)
	case "build":
		return pluginBuild(ctx, args[1:], stdout, stderr)
	case "test":
		return pluginTest(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, pluginUsage)
	return fmt.Errorf("%w: unknown plugin subcommand %q; it has new, build and test", errUsage, args[0])
}

// pluginBuild compiles a plugin and then loads it the way the server would, so a module that the
// server would refuse fails here, with the same message.
func pluginBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin build", stdout, stderr)
	out := fs.String("o", "", "output file (default: DIR's name + .wasm, in the current folder)")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: plugin build DIR [-o FILE]", errUsage)
	}
	dir := fs.Arg(0)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// A plugin folder as `plugin new` makes it keeps its entry point in wasm/; either may be named.
	pkgDir := abs
	if _, err := os.Stat(filepath.Join(abs, "wasm", "main.go")); err == nil {
		pkgDir = filepath.Join(abs, "wasm")
	}
	if *out == "" {
		base := filepath.Base(abs)
		if base == "wasm" {
			base = filepath.Base(filepath.Dir(abs))
		}
		*out = base + ".wasm"
	}
	if err := wasmbuild.Build(ctx, pkgDir, *out); err != nil {
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
	// An upload is also dry-run on its sample_event; say now what the server would say then.
	if len(m.SampleEvent) > 0 {
		if _, err := custom.DryRun(ctx, p, m.SampleEvent, custom.TestSubscription{}); err != nil {
			return fmt.Errorf("built %s, but the server would refuse it: the dry run of its sample_event failed: %w", *out, err)
		}
	}
	fmt.Fprintf(stdout, "built %s (%d KiB): %s %s, ABI %d, events %s, hooks [%s]\n",
		*out, len(wasm)/1024, m.Name, m.Version, m.ABI, eventList(m.Events), strings.Join(m.Hooks, ", "))
	if len(m.SampleEvent) == 0 {
		fmt.Fprintln(stdout, "note: the manifest has no sample_event, so PUT /v1/plugins would refuse it (built-in plugins may do without)")
	}
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

// pluginTest shapes one event with a plugin, through the same runtime and the same input the
// dispatcher builds (custom.DryRun, which the server also runs on an upload's sample_event), and
// prints the request a subscriber would receive.
func pluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin test", stdout, stderr)
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
	event, err := os.ReadFile(*eventFile)
	if err != nil {
		return err
	}
	if err := checkEventFile(*eventFile, event); err != nil {
		return err
	}
	var sub custom.TestSubscription
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
	req, err := custom.DryRun(ctx, p, event, sub)
	if err != nil {
		return fmt.Errorf("%s: %w", *eventFile, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(req)
	}
	if req.AppSecret != "" {
		secretNote += "# the app's key is " + req.AppSecret + "\n"
	}
	fmt.Fprint(stdout, secretNote)
	fmt.Fprintf(stdout, "%s %s\n", req.Method, req.URL)
	for _, h := range req.Headers {
		fmt.Fprintf(stdout, "%s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintf(stdout, "\n%s\n", req.Body)
	return nil
}

// checkEventFile refuses an event that POST /v1/events would refuse, with the same message, so that
// an event tried here can be published as it is. (Only the account's existence is not checked.)
func checkEventFile(name string, event []byte) error {
	var in engine.NewEvent
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("%s is not an event as POST /v1/events takes it: %w", name, err)
	}
	if err := in.Validate(""); err != nil {
		return fmt.Errorf("%s: POST /v1/events would refuse this event: %w", name, err)
	}
	return nil
}

func loadPlugin(ctx context.Context, wasm []byte, mode runtime.Mode) (*runtime.Plugin, func(), error) {
	// The deadline still stops a plugin that never returns; it is generous because a developer's
	// machine is often busy building, and a slow start must not read as a broken plugin.
	// A throwaway server key lets plugins that sign with it (ivvy) be tried here too.
	serverKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	rt, err := runtime.New(ctx, runtime.Config{PoolSize: 1, CallTimeout: 10 * time.Second, ServerKey: serverKey})
	if err != nil {
		return nil, nil, err
	}
	// The key is thrown away afterwards, so granting it here gives nothing away.
	p, err := rt.Load(ctx, wasm, mode, runtime.GrantServerKey)
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
