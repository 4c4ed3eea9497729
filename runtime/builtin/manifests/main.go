// Command manifests writes each built-in plugin's manifest beside its module (NAME.manifest.json
// beside NAME.wasm), as the module itself gives it when loaded, so that the server takes the plugin
// at it without compiling the module first (runtime.LoadDormantKnown). `make plugins` runs it on
// every module it builds; a manifest already written for the same module is left as it is, so a
// build that changed no plugin compiles none.
//
//	go run ./runtime/builtin/manifests runtime/builtin/wasm/*.wasm
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/switchyard/switchyard/runtime"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, modules []string) error {
	var rt *runtime.Runtime
	for _, path := range modules {
		wasm, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := strings.TrimSuffix(path, ".wasm") + ".manifest.json"
		hash := runtime.ModuleHash(wasm)
		if b, err := os.ReadFile(out); err == nil {
			var k runtime.Known
			if json.Unmarshal(b, &k) == nil && k.Hash == hash {
				continue
			}
		}
		if rt == nil {
			if rt, err = runtime.New(ctx, runtime.Config{}); err != nil {
				return err
			}
			defer rt.Close(ctx)
		}
		// Loaded as the server loads a built-in plugin: trusted, through the same checks.
		p, err := rt.Load(ctx, wasm, runtime.Trusted)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		b, err := json.Marshal(runtime.Known{Hash: hash, Manifest: p.Manifest()})
		if err != nil {
			return err
		}
		// Renamed into place, so that an interrupted build leaves no half-written manifest.
		if err := os.WriteFile(out+".tmp", append(b, '\n'), 0o644); err != nil {
			return err
		}
		if err := os.Rename(out+".tmp", out); err != nil {
			return err
		}
	}
	return nil
}
