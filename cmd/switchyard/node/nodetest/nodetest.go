// Package nodetest starts real Switchyard nodes for end-to-end tests: the real server on a loopback
// port, the real SQLite file, the real compiled plugins, and receivers that record what they get.
package nodetest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/builtin"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// AdminToken is the operator token of every test node.
const AdminToken = "test-admin-token"

// Node is a running node and a client for it.
type Node struct {
	*node.Node
	t       testing.TB
	DataDir string
	Logs    *LogBuffer
	Admin   *Client
	// TLSCertFile is the certificate the node serves HTTPS with, when started with Options.TLS.
	TLSCertFile string
	httpClient  *http.Client
}

// Options adjust a test node; Configure runs last, on the whole configuration.
type Options struct {
	DataDir string
	Clock   engine.Clock
	// TLS serves HTTPS with a loopback certificate made for the test; the node's clients trust it.
	TLS       bool
	Configure func(*node.Config)
}

// Start starts a node that may deliver to loopback (127.0.0.0/8), and stops it when the test ends.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	logs := &LogBuffer{}
	cfg := node.Config{
		Addr:         "127.0.0.1:0",
		DataDir:      opts.DataDir,
		AdminToken:   AdminToken,
		AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Clock:        opts.Clock,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Synchronous:  "NORMAL",
	}
	cfg.Dispatcher.ShutdownGrace = 2 * time.Second
	cfg.Dispatcher.PollInterval = 200 * time.Millisecond
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	// Compiling the plugins once per machine, not once per test node, keeps the suite quick.
	cfg.CacheDir = runtimetest.CacheDir(t)
	cfg.Builtins = runtimetest.Builtins(t)
	warmCache(t, cfg.CacheDir, cfg.Builtins)
	// Tests never ask the machine's DNS: a hostname a test needs, it resolves itself.
	cfg.Resolver = LoopbackResolver{}
	var roots *x509.CertPool
	if opts.TLS {
		cfg.TLSCertFile, cfg.TLSKeyFile, roots = TLSFiles(t)
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	n, err := node.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Stopped by the cleanup below even when it never gets ready.
	node := &Node{Node: n, t: t, DataDir: cfg.DataDir, Logs: logs, TLSCertFile: cfg.TLSCertFile, httpClient: httpClient(roots)}
	node.Admin = node.Client(AdminToken)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	ready, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := n.WaitReady(ready); err != nil {
		t.Fatalf("node never got ready: %v", err)
	}
	return node
}

var (
	warmOnce sync.Once
	warmErr  error
)

// warmCache compiles the built-in plugins into dir before the first node starts, while the nodes
// of other parallel tests wait. Without it, on a cold cache every node compiled every plugin at
// the same time, and under the race detector one compile takes about 12 s: a cold run of the api
// tests took close to go test's ten-minute limit. Test binaries keep their own cache folder (their
// build reports wazero's version as "dev"), so a cache that the server binary filled does not help.
func warmCache(t testing.TB, dir string, mods []builtin.Module) {
	t.Helper()
	warmOnce.Do(func() {
		ctx := context.Background()
		rt, err := runtime.New(ctx, runtime.Config{PoolSize: 1, CacheDir: dir})
		if err != nil {
			warmErr = err
			return
		}
		defer func() { _ = rt.Close(ctx) }()
		for _, m := range mods {
			if _, err := rt.Load(ctx, m.Wasm, runtime.Trusted); err != nil {
				warmErr = fmt.Errorf("compile %s: %w", m.Name, err)
				return
			}
		}
	})
	if warmErr != nil {
		t.Fatal(warmErr)
	}
}

// Client returns a client that presents token as a bearer token.
func (n *Node) Client(token string) *Client {
	return &Client{t: n.t, Base: n.URL(), Token: token, HTTP: n.HTTPClient()}
}

// HTTPClient returns an HTTP client that trusts the node's TLS certificate, if it has one.
func (n *Node) HTTPClient() *http.Client { return n.httpClient }

// Client calls a node's API.
type Client struct {
	t     testing.TB
	Base  string
	Token string
	// Header, when set, names the header the token goes in instead of Authorization: Bearer.
	Header string
	// ContentType of request bodies; default application/json.
	ContentType string
	HTTP        *http.Client
	// Unchecked leaves the calls out of the OpenAPI check (see checkOpenAPI), for the calls that
	// deliberately break the protocol in ways no document describes (a wrong content type).
	Unchecked bool
}

// WithT returns a copy of c that reports to t: inside a fuzz function or a subtest, failures
// belong to that t.
func (c *Client) WithT(t testing.TB) *Client {
	cp := *c
	cp.t = t
	return &cp
}

// Response is a finished call.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d %s: %v", r.Status, r.Body, err)
	}
}

// ErrorCode returns the code of a native error body, or "".
func (r *Response) ErrorCode() string {
	var b struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

// Do sends a request; body is marshalled unless it is []byte or string, which are sent as they are.
func (c *Client) Do(method, path string, body any) *Response {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.Base+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		ct := c.ContentType
		switch {
		case ct != "":
		case bytes.HasPrefix(raw, []byte("\x00asm")):
			ct = "application/wasm" // a plugin upload
		default:
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	} else {
		req.Body, req.ContentLength = nil, 0
	}
	if c.Token != "" {
		if c.Header != "" {
			req.Header.Set(c.Header, c.Token)
		} else {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if !c.Unchecked && (strings.HasPrefix(path, "/v1/") || path == "/v1") {
		if err := checkOpenAPI(req, raw, resp.StatusCode, resp.Header, b); err != nil {
			c.t.Errorf("%s %s: %v\nresponse: %s", method, path, err, truncate(b, 2000))
		}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// MustDo sends a request and fails the test unless the status is want; it decodes the body into
// out when out is not nil.
func (c *Client) MustDo(method, path string, body any, want int, out any) *Response {
	c.t.Helper()
	resp := c.Do(method, path, body)
	if resp.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.Status, want, resp.Body)
	}
	if out != nil {
		resp.JSON(c.t, out)
	}
	return resp
}

// Tenant is an account with an app and its API key: what most tests start from.
type Tenant struct {
	AccountID string
	AppID     string
	AppSecret string
	Token     string
	App       *Client
}

// NewTenant creates an account, an app (with url, if given) that the account granted all its
// events, and an API key of the whole app that may also publish into every account.
func (n *Node) NewTenant(name, appURL string) *Tenant {
	n.t.Helper()
	var acct engine.Account
	n.Admin.MustDo("POST", "/v1/accounts", map[string]any{"name": name + " account"}, http.StatusCreated, &acct)
	var app struct {
		ID, Secret string
	}
	n.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": name + " app", "url": appURL}, http.StatusCreated, &app)
	n.Grant(acct.ID, app.ID, "*")
	cred := n.Credential(app.ID, engine.NewCredential{Kind: engine.CredentialAPIKey, Scopes: []string{engine.ScopePublish}, AllAccounts: true})
	return &Tenant{AccountID: acct.ID, AppID: app.ID, AppSecret: app.Secret, Token: cred.Token, App: n.Client(cred.Token)}
}

// Grant lets an app subscribe to an account's events matching patterns, as the operator,
// failing the test if it cannot.
func (n *Node) Grant(accountID, appID string, patterns ...string) *engine.Grant {
	n.t.Helper()
	var g engine.Grant
	n.Admin.MustDo("POST", "/v1/accounts/"+accountID+"/grants", map[string]any{"app_id": appID, "events": patterns}, http.StatusCreated, &g)
	return &g
}

// Credential issues a credential to an app as the operator, failing the test if it cannot.
func (n *Node) Credential(appID string, in engine.NewCredential) *engine.IssuedCredential {
	n.t.Helper()
	var cred engine.IssuedCredential
	n.Admin.MustDo("POST", "/v1/apps/"+appID+"/credentials", in, http.StatusCreated, &cred)
	return &cred
}

// LogBuffer collects a node's log.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// LoopbackResolver resolves localhost to the loopback addresses and every other name to nothing,
// so that no test sends a query off the machine.
type LoopbackResolver struct{}

func (LoopbackResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "localhost" {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host (test resolver)", Name: host, IsNotFound: true}
}
