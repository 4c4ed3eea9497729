package engine_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestSecretsAreComparedInConstantTime parses every non-test .go file of the repository (both
// modules: the server and sdk/; not testdata or node_modules) and fails on any comparison of a
// value whose name says it is a secret that does not go through crypto/subtle's
// ConstantTimeCompare or hmac.Equal.
//
// A comparison is ==, !=, a switch on a value, or a call to bytes.Equal, bytes.EqualFold,
// bytes.Compare, bytes.HasPrefix, bytes.HasSuffix, bytes.Contains, bytes.Index, strings.Compare,
// strings.EqualFold, strings.HasPrefix, strings.HasSuffix, strings.Contains, strings.Index,
// slices.Equal, slices.Compare, maps.Equal or reflect.DeepEqual. One of its sides is secret when an
// identifier in it (a variable, a field, a function or method called) has a name whose last word is
// one of secretWords, or whose last two words are one of secretKeys (appKey, apiKey,
// authenticationKey ...); words are split at case changes, digits and underscores. Names inside
// len() or cap() do not count: a length is not the secret. A comparison is not flagged when its
// other side is nil or a literal: it can tell only whether the secret is empty or is that
// constant.
//
// What it cannot see: map lookups and SQL WHERE clauses keyed by a secret, values whose names do
// not say what they hold, and comparisons in test files. Every constant-time call it meets is
// counted, so it cannot pass by seeing nothing.
func TestSecretsAreComparedInConstantTime(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	fset := token.NewFileSet()
	parsed := map[string]*ast.File{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		parsed[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A declared constant cannot hold a secret received at run time: comparing with one is
	// comparing with a literal.
	constants := map[string]bool{}
	for _, f := range parsed {
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.CONST {
				for _, spec := range gd.Specs {
					for _, name := range spec.(*ast.ValueSpec).Names {
						constants[name.Name] = true
					}
				}
			}
		}
	}
	var constantTime int
	seen := map[string]bool{}
	var flagged []string
	for rel, f := range parsed {
		c := &comparisons{fset: fset, file: rel, constants: constants}
		c.walk(f)
		constantTime += c.constantTime
		for _, hit := range c.hits {
			if _, ok := allowed[hit.key]; ok {
				seen[hit.key] = true
				continue
			}
			flagged = append(flagged, hit.String())
		}
	}
	slices.Sort(flagged)
	for _, hit := range flagged {
		t.Errorf("a secret compared without crypto/subtle or hmac.Equal: %s", hit)
	}
	for key := range allowed {
		if !seen[key] {
			t.Errorf("allowed comparison %q no longer exists: remove it from the list", key)
		}
	}
	// The constant-time calls of the server (the admin token, credential secrets, a rotated
	// subscription secret, the iVvy API's request signature) and of the example receiver; a lower
	// bound, so that a scanner that sees nothing fails.
	if len(parsed) < 100 || constantTime < 5 {
		t.Errorf("scanned %d files and saw %d constant-time comparisons, want at least 100 and 5", len(parsed), constantTime)
	}
	t.Logf("%d files, %d constant-time comparisons, %d allowed plain ones", len(parsed), constantTime, len(seen))
}

// allowed are plain comparisons of values with secret names that are not comparisons of secrets,
// by "function: expression" (Type.Method for a method, so an entry survives a file's move), each
// with the reason.
var allowed = map[string]string{
	"storedSecret: bytes.Equal(signing.HMACKey(secret), []byte(secret))": "both sides are the new secret the caller " +
		"sends, its decoded form against its text: the time taken says only what the caller already knows",
	"Manager.Upload: old.plugin.Hash == runtime.ModuleHash(wasm)": "the SHA-256 of a custom plugin's .wasm, a fingerprint " +
		"of code, not a secret",
	"Manager.loadStoredOne: meta.Hash != runtime.ModuleHash(wasm)": "the SHA-256 of a custom plugin's .wasm, a fingerprint " +
		"of code, not a secret",
	"dirWatcher.process: hash == st.hash": "the SHA-256 of a custom plugin's .wasm, a fingerprint of code, " +
		"not a secret",
	"Manager.syncOne: cur.plugin.Hash == sp.Hash": "the SHA-256 of a custom plugin's .wasm, a fingerprint " +
		"of code, not a secret",
	"Manager.syncOne: runtime.ModuleHash(sp.Wasm) != sp.Hash": "the SHA-256 of a custom plugin's .wasm, a fingerprint " +
		"of code, not a secret",
	"Plugin.code: ModuleHash(wasm) != p.Hash": "the SHA-256 of a dormant plugin's .wasm read again, a " +
		"fingerprint of code, not a secret",
	"Runtime.LoadDormantKnown: known.Hash == hash": "the SHA-256 of a built-in plugin's .wasm against the one its " +
		"embedded manifest names, a fingerprint of code, not a secret",
	"run: k.Hash == hash": "the SHA-256 of a built-in plugin's .wasm against the one its manifest file names " +
		"(runtime/builtin/manifests, at build time), a fingerprint of code, not a secret",
}

// secretWords are the last words that make a name a secret's.
var secretWords = map[string]bool{
	"secret": true, "secrets": true, "token": true, "tokens": true, "password": true, "passwd": true,
	"passphrase": true, "signature": true, "signatures": true, "sig": true, "sigs": true,
	"digest": true, "digests": true, "hash": true, "hashes": true, "mac": true, "macs": true, "hmac": true,
}

// secretKeys are the last two words that make a name a secret key's; a plain "key" is too often a
// map key, a subscription key or an idempotency key.
var secretKeys = map[string]bool{
	"api key": true, "app key": true, "auth key": true, "authentication key": true, "secret key": true,
	"signing key": true, "private key": true, "access key": true, "client key": true,
}

// comparing are the functions whose call compares their first two arguments.
var comparing = map[string]bool{
	"bytes.Equal": true, "bytes.EqualFold": true, "bytes.Compare": true, "bytes.HasPrefix": true,
	"bytes.HasSuffix": true, "bytes.Contains": true, "bytes.Index": true,
	"strings.Compare": true, "strings.EqualFold": true, "strings.HasPrefix": true, "strings.HasSuffix": true,
	"strings.Contains": true, "strings.Index": true,
	"slices.Equal": true, "slices.Compare": true, "maps.Equal": true, "reflect.DeepEqual": true,
}

type hit struct {
	pos token.Position
	key string
}

func (h hit) String() string { return h.pos.String() + ": " + h.key }

type comparisons struct {
	fset         *token.FileSet
	file         string
	constants    map[string]bool
	fn           string
	constantTime int
	hits         []hit
}

func (c *comparisons) walk(f *ast.File) {
	for _, decl := range f.Decls {
		c.fn = ""
		if fd, ok := decl.(*ast.FuncDecl); ok {
			c.fn = fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				c.fn = receiverType(fd.Recv.List[0].Type) + "." + c.fn
			}
		}
		ast.Inspect(decl, c.visit)
	}
}

func receiverType(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return receiverType(e.X)
	case *ast.IndexExpr:
		return receiverType(e.X)
	case *ast.IndexListExpr:
		return receiverType(e.X)
	case *ast.Ident:
		return e.Name
	}
	return "?"
}

func (c *comparisons) visit(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.BinaryExpr:
		if n.Op == token.EQL || n.Op == token.NEQ {
			c.check(n, n.X, n.Y)
		}
	case *ast.SwitchStmt:
		if n.Tag != nil && secret(n.Tag) && !c.public(n.Tag) {
			for _, s := range n.Body.List {
				for _, v := range s.(*ast.CaseClause).List {
					if !c.public(v) {
						c.flag(n.Tag, "switch "+c.text(n.Tag)+" case "+c.text(v))
					}
				}
			}
		}
	case *ast.CallExpr:
		name := callName(n.Fun)
		switch {
		case name == "subtle.ConstantTimeCompare" || name == "hmac.Equal":
			c.constantTime++
			// Its arguments are compared safely; what else they contain is looked at.
			for _, a := range n.Args {
				ast.Inspect(a, c.visit)
			}
			return false
		case comparing[name] && len(n.Args) >= 2:
			c.check(n, n.Args[0], n.Args[1])
		}
	}
	return true
}

// check flags a comparison of a and b when one is secret and neither is public.
func (c *comparisons) check(n ast.Node, a, b ast.Expr) {
	if (secret(a) || secret(b)) && !c.public(a) && !c.public(b) {
		c.flag(n, c.text(n))
	}
}

func (c *comparisons) flag(n ast.Node, expr string) {
	c.hits = append(c.hits, hit{pos: c.fset.Position(n.Pos()), key: c.fn + ": " + expr})
}

func (c *comparisons) text(n ast.Node) string {
	var b bytes.Buffer
	_ = printer.Fprint(&b, c.fset, n)
	return b.String()
}

// public reports whether e is nil, a literal (a string, number or character), a constant declared
// in the repository (by name, as is or package-qualified), or a conversion of one ([]byte("")).
func (c *comparisons) public(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "nil" || c.constants[e.Name]
	case *ast.SelectorExpr:
		_, qualified := e.X.(*ast.Ident)
		return qualified && c.constants[e.Sel.Name]
	case *ast.BasicLit:
		return true
	case *ast.ParenExpr:
		return c.public(e.X)
	case *ast.CallExpr:
		if len(e.Args) == 1 {
			if _, conversion := e.Fun.(*ast.ArrayType); conversion {
				return c.public(e.Args[0])
			}
			if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "string" {
				return c.public(e.Args[0])
			}
		}
	}
	return false
}

// secret reports whether an identifier in e, outside len() and cap(), has a secret's name.
func secret(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if found {
			return false
		}
		switch n := n.(type) {
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
				return false
			}
		case *ast.FuncLit:
			return false
		case *ast.Ident:
			found = secretName(n.Name)
		}
		return !found
	})
	return found
}

func secretName(name string) bool {
	w := words(name)
	if len(w) == 0 {
		return false
	}
	if secretWords[w[len(w)-1]] {
		return true
	}
	return len(w) >= 2 && secretKeys[w[len(w)-2]+" "+w[len(w)-1]]
}

// words splits an identifier into lowercase words: appKey, AppKey, app_key and APPKey give
// "app", "key" (an acronym ends before the capital that starts the next word).
func words(name string) []string {
	var out []string
	r := []rune(name)
	start := 0
	flush := func(end int) {
		if end > start {
			out = append(out, strings.ToLower(string(r[start:end])))
		}
		start = end
	}
	for i := 0; i < len(r); i++ {
		switch {
		case r[i] == '_' || unicode.IsDigit(r[i]):
			flush(i)
			start = i + 1
		case i > start && unicode.IsUpper(r[i]) &&
			(unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]))):
			flush(i)
		}
	}
	flush(len(r))
	return out
}

func callName(fun ast.Expr) string {
	if sel, ok := fun.(*ast.SelectorExpr); ok {
		if pkg, ok := sel.X.(*ast.Ident); ok {
			return pkg.Name + "." + sel.Sel.Name
		}
	}
	return ""
}

// repoRoot is the folder of the server module's go.mod, above the working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/switchyard/switchyard\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of github.com/switchyard/switchyard above the working directory")
		}
		dir = parent
	}
}

func TestWordsOfANameForTheConstantTimeScan(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"appKey": "app key", "APIKey": "api key", "authentication_key": "authentication key", "SecretHash": "secret hash",
		"HMACSig": "hmac sig", "sha256Digest": "sha digest", "signatureVersion": "signature version", "x": "x",
	} {
		if got := strings.Join(words(name), " "); got != want {
			t.Errorf("words(%q) = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]bool{
		"secret": true, "cred.SecretHash": true, "appKey": true, "authenticationKey": true, "wantSig": true, "HMAC": true,
		"signatureVersion": false, "HasSecret": true, "key": false, "idempotencyKey": false, "tokenURL": false,
	} {
		last := name[strings.LastIndex(name, ".")+1:]
		if got := secretName(last); got != want {
			t.Errorf("secretName(%q) = %v, want %v", name, got, want)
		}
	}
}
