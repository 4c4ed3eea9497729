package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/switchyard/switchyard/sdk"
)

// sdkDir is the sdk folder of the source this binary was built from, set by the Makefile
// (-ldflags "-X main.sdkDir=..."), so that scaffolded plugins build offline against it.
var sdkDir string

const sdkModule = "github.com/switchyard/switchyard/sdk"

//go:embed scaffold
var scaffoldFiles embed.FS

type scaffoldData struct {
	Name, Package, Module, SDKDir, GoVersion string
}

// pluginNew writes a plugin folder that builds at once with `switchyard plugin build` and whose
// test passes with `go test`.
func pluginNew(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugin new", stdout, stderr)
	dir := fs.String("dir", "", "folder to create (default: ./NAME)")
	sdkFlag := fs.String("sdk", "", "the Switchyard source's sdk folder (default: the one this binary was built from)")
	module := fs.String("module", "", "Go module path of the plugin (default: example.com/NAME)")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: plugin new NAME [--dir DIR] [--sdk PATH] [--module PATH]", errUsage)
	}
	name := fs.Arg(0)
	if !sdk.IsPluginName(name) {
		return fmt.Errorf("%w: plugin name %q: use %s", errUsage, name, sdk.PluginNameRule)
	}
	if *dir == "" {
		*dir = name
	}
	if *module == "" {
		*module = "example.com/" + name
	}
	sdkPath, goVersion, err := findSDK(*sdkFlag)
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(*dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s already exists and is not empty; choose another --dir", *dir)
	}
	data := scaffoldData{
		Name: name, Package: strings.NewReplacer("-", "", "_", "").Replace(name), Module: *module,
		SDKDir: sdkPath, GoVersion: goVersion,
	}
	var written []string
	err = walkTemplates(func(rel string, tmpl *template.Template) error {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			return fmt.Errorf("scaffold %s: %w", rel, err)
		}
		out := buf.Bytes()
		if strings.HasSuffix(rel, ".go") {
			if out, err = format.Source(out); err != nil {
				return fmt.Errorf("scaffold %s: %w", rel, err)
			}
		}
		path := filepath.Join(*dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		written = append(written, path)
		return os.WriteFile(path, out, 0o644)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created plugin %s in %s:\n", name, *dir)
	for _, p := range written {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	fmt.Fprintf(stdout, "\nnext:\n  cd %s && go test ./...\n  switchyard plugin build %s\n  switchyard plugin test --plugin %s.wasm --event %s\n",
		*dir, *dir, name, filepath.Join(*dir, "sample_event.json"))
	return nil
}

// walkTemplates calls fn with every scaffold template, by its path in the new folder.
func walkTemplates(fn func(rel string, tmpl *template.Template) error) error {
	return fs.WalkDir(scaffoldFiles, "scaffold", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, ok := strings.CutSuffix(strings.TrimPrefix(path, "scaffold/"), ".tmpl")
		if !ok {
			return nil
		}
		src, err := scaffoldFiles.ReadFile(path)
		if err != nil {
			return err
		}
		tmpl, err := template.New(rel).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return err
		}
		return fn(rel, tmpl)
	})
}

// findSDK returns the absolute sdk folder to build against, and the Go version its go.mod names
// (a plugin module must not ask for a newer Go than the SDK it builds with).
func findSDK(flagValue string) (dir, goVersion string, err error) {
	dir = flagValue
	if dir == "" {
		dir = sdkDir
	}
	if dir == "" {
		return "", "", errors.New("cannot find the Switchyard SDK: this binary was not built with `make build`, which records where its source is; pass --sdk /path/to/switchyard/sdk")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", "", fmt.Errorf("the Switchyard SDK is not at %s (%w); pass --sdk /path/to/switchyard/sdk", dir, err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`).FindSubmatch(mod)
	if m == nil || string(m[1]) != sdkModule {
		return "", "", fmt.Errorf("%s/go.mod is not the module %s; pass --sdk /path/to/switchyard/sdk", dir, sdkModule)
	}
	goVersion = "1.25.0"
	if v := regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`).FindSubmatch(mod); v != nil {
		goVersion = string(v[1])
	}
	return dir, goVersion, nil
}
