package node

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/runtime/runtimetest"
)

const module = "github.com/switchyard/switchyard"

// vendors are the vendor styles' names, which the core must never name.
var vendors = []string{"altoviz", "ivvy", "quicklysign", "salesking", "upsales"}

// goList returns, for each package the patterns match, the packages it depends on (itself
// excluded), run from the repository's root with extra environment.
func goList(t *testing.T, env []string, patterns ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps=false", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, patterns...)...)
	cmd.Dir = runtimetest.RepoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", patterns, err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			deps[fields[0]] = fields[1:]
		}
	}
	if len(deps) == 0 {
		t.Fatalf("go list %v listed no packages", patterns)
	}
	return deps
}

// TestDependenciesPointOneWay enforces the layout's rules (DESIGN.md, "Layout"): guest plugins
// depend on the SDK and the standard library only; the engine and the store drivers import no api
// package; the engine imports no store; a style's store package speaks no HTTP; and nothing under
// store/ names a vendor.
func TestDependenciesPointOneWay(t *testing.T) {
	t.Parallel()
	isStd := func(p string) bool { return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }
	violations := func(deps map[string][]string, bad func(dep string) bool) []string {
		var out []string
		for pkg, ds := range deps {
			for _, d := range ds {
				if bad(d) {
					out = append(out, pkg+" imports "+d)
				}
			}
		}
		return out
	}
	check := func(rule string, found []string) {
		t.Helper()
		for _, v := range found {
			t.Errorf("%s: %s", rule, v)
		}
	}

	// The guest side of every style: its shaping logic, built natively for its tests, and its
	// wasm entry point, built for WebAssembly.
	guests := goList(t, nil, "./plugins/...")
	var logic, entries []string
	for pkg := range guests {
		rest := strings.TrimPrefix(pkg, module+"/plugins/")
		switch style, sub, _ := strings.Cut(rest, "/"); {
		case sub == "":
			logic = append(logic, pkg)
		case sub == "wasm":
			entries = append(entries, module+"/plugins/"+style+"/wasm")
		}
	}
	if len(logic) < 6 {
		t.Fatalf("found %d guest packages under plugins/, want one per style: %v", len(logic), logic)
	}
	isGuestLogic := map[string]bool{}
	for _, pkg := range logic {
		isGuestLogic[pkg] = true
	}
	sdkOnly := func(d string) bool { return !isStd(d) && !strings.HasPrefix(d, module+"/sdk") && !isGuestLogic[d] }
	check("a guest plugin depends on the SDK only", violations(goList(t, nil, logic...), sdkOnly))
	check("a guest plugin depends on the SDK only", violations(goList(t, []string{"GOOS=wasip1", "GOARCH=wasm"}, entries...), sdkOnly))

	importsAPI := func(d string) bool { return d == module+"/api" || strings.HasPrefix(d, module+"/api/") }
	check("the engine imports no api package", violations(goList(t, nil, "./engine/..."), importsAPI))
	stores := goList(t, nil, "./store/...", "./plugins/...")
	for pkg := range stores {
		if !strings.HasPrefix(pkg, module+"/store") && !strings.Contains(pkg, "/store") {
			delete(stores, pkg)
		}
	}
	check("a store imports no api package", violations(stores, importsAPI))
	check("the engine imports no store", violations(goList(t, nil, "./engine/..."), func(d string) bool {
		return strings.HasPrefix(d, module+"/store") || strings.Contains(d, "/store/sqlite")
	}))
	check("a store imports no style's HTTP side", violations(stores, func(d string) bool {
		return strings.HasPrefix(d, "github.com/labstack/echo") || strings.Contains(d, "/host")
	}))
	check("the core store knows no vendor", violations(goList(t, nil, "./store/..."), func(d string) bool {
		return strings.HasPrefix(d, module+"/plugins/")
	}))

	// Nothing under store/ names a vendor, in code, comments or SQL.
	root := runtimetest.RepoRoot(t)
	err := filepath.WalkDir(filepath.Join(root, "store"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := strings.ToLower(string(b))
		for _, v := range vendors {
			if strings.Contains(text, v) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("the core store knows no vendor: %s names %s", rel, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
