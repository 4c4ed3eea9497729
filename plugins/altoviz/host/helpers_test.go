package host_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
	"github.com/switchyard/switchyard/runtime/runtimetest"
)

const webhooks = "/compat/altoviz/v1/webhooks"

// wait bounds every wait for a delivery: generous, because five builds share two cores.
const wait = 60 * time.Second

// fakeDNS answers the nodes' lookups, so that no test asks a real resolver: intranet.example is
// on a private network, and every other name does not exist.
type fakeDNS struct{}

func (fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "intranet.example" {
		return []netip.Addr{netip.MustParseAddr("10.0.0.7")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// start starts a node that resolves names with fakeDNS; configure, if set, adjusts it further.
func start(t *testing.T, configure func(*node.Config)) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Resolver = fakeDNS{}
		if configure != nil {
			configure(c)
		}
	}})
}

// startAt starts a node on a test clock.
func startAt(t *testing.T, clock *enginetest.Clock) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, nodetest.Options{Clock: clock, Configure: func(c *node.Config) { c.Resolver = fakeDNS{} }})
}

// hexHMAC is the signature a receiver written from the vendor's document computes: Go's own HMAC,
// keyed with the secret key's text, owing nothing to the host's signing code.
func hexHMAC(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// company is one integrator (app) working for one Altoviz company (account) with an API key bound
// to it: what an Altoviz API key is.
type company struct {
	AccountID string
	AppID     string
	Key       string
	CredID    string
	// Altoviz calls the compatible API with x-api-key; Native calls the native API with the same key.
	Altoviz *nodetest.Client
	Native  *nodetest.Client
}

func newAccount(t *testing.T, node *nodetest.Node, name string) string {
	t.Helper()
	var acct engine.Account
	node.Admin.MustDo("POST", "/v1/accounts", map[string]any{"name": name}, http.StatusCreated, &acct)
	return acct.ID
}

func newApp(t *testing.T, node *nodetest.Node, name string) string {
	t.Helper()
	var app struct{ ID string }
	node.Admin.MustDo("POST", "/v1/apps", map[string]any{"name": name}, http.StatusCreated, &app)
	return app.ID
}

// newKey issues an API key to appID, bound to accountID unless it is empty.
func newKey(t *testing.T, node *nodetest.Node, appID, accountID string) company {
	t.Helper()
	body := map[string]any{"kind": "api_key"}
	if accountID != "" {
		body["account_id"] = accountID
	}
	var cred engine.IssuedCredential
	node.Admin.MustDo("POST", "/v1/apps/"+appID+"/credentials", body, http.StatusCreated, &cred)
	altoviz := node.Client(cred.Token)
	altoviz.Header = "x-api-key"
	return company{AccountID: accountID, AppID: appID, Key: cred.Token, CredID: cred.ID, Altoviz: altoviz, Native: node.Client(cred.Token)}
}

func newCompany(t *testing.T, node *nodetest.Node, name string) company {
	t.Helper()
	return newKey(t, node, newApp(t, node, name+" integration"), newAccount(t, node, name))
}

// webhook is the compatible API's webhook object.
type webhook struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Types     []string `json:"types"`
	URL       string   `json:"url"`
	SecretKey *string  `json:"secretKey"`
}

type validation struct {
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
	Message string `json:"message"`
}

type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

// strictJSON decodes body into v, refusing fields v does not have: the test pins the whole shape.
func strictJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
}

func register(t *testing.T, c company, body map[string]any) webhook {
	t.Helper()
	resp := c.Altoviz.MustDo("POST", webhooks, body, http.StatusCreated, nil)
	var w webhook
	strictJSON(t, resp.Body, &w)
	return w
}

func list(t *testing.T, c company) []webhook {
	t.Helper()
	resp := c.Altoviz.MustDo("GET", webhooks, nil, http.StatusOK, nil)
	var ws []webhook
	strictJSON(t, resp.Body, &ws)
	if ws == nil {
		t.Fatalf("list is %s, want an array", resp.Body)
	}
	return ws
}

func ids(ws []webhook) []int64 {
	out := []int64{}
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

// publish publishes an event for account as the operator and returns it.
func publish(t *testing.T, node *nodetest.Node, accountID, eventType string, data any) engine.Published {
	t.Helper()
	object, _, _ := strings.Cut(eventType, ".")
	var p engine.Published
	node.Admin.MustDo("POST", "/v1/events", map[string]any{
		"account_id": accountID, "type": eventType, "entity": map[string]string{"type": object, "id": "1"}, "data": data,
	}, http.StatusAccepted, &p)
	return p
}

// subscriptionCount is how many subscriptions the app has, as the native API lists them.
func subscriptionCount(t *testing.T, c company) int {
	t.Helper()
	var l struct{ Data []json.RawMessage }
	c.Native.MustDo("GET", "/v1/subscriptions?limit=200", nil, http.StatusOK, &l)
	return len(l.Data)
}

var (
	pythonOnce sync.Once
	pythonPath string
	pythonErr  error
)

// python returns the interpreter's own path. python3 on PATH may be a wrapper (pyenv's shim) that
// runs the interpreter as its child: killing the wrapper would leave the receiver running.
func python(t *testing.T) string {
	t.Helper()
	pythonOnce.Do(func() {
		out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
		pythonPath, pythonErr = strings.TrimSpace(string(out)), err
	})
	if pythonErr != nil || pythonPath == "" {
		t.Fatalf("python3 is needed for the independent receiver: %v", pythonErr)
	}
	return pythonPath
}

// call is one call a Python receiver got, as it reports it.
type call struct {
	Verified bool `json:"verified"`
	// VerifiedBy names the header whose signature matched the receiver's key.
	VerifiedBy        string  `json:"verified_by"`
	Signature         *string `json:"signature"`
	PreviousSignature *string `json:"previous_signature"`
	// ID is the body's id as Python read it, and IDIsString whether it was a JSON string.
	ID          any             `json:"id"`
	IDIsString  bool            `json:"id_is_string"`
	DeliveryID  string          `json:"delivery_id"`
	Type        string          `json:"type"`
	Data        json.RawMessage `json:"data"`
	Body        string          `json:"body"`
	Path        string          `json:"path"`
	ContentType string          `json:"content_type"`
	Error       string          `json:"error"`
}

// pyReceiver is examples/receivers/altoviz.py serving on loopback: a receiver that checks
// signatures with Python's hmac module, and reports every call on its standard output.
type pyReceiver struct {
	URL   string
	mu    sync.Mutex
	calls []call
	more  chan struct{}
}

// startPython starts the Python receiver; an empty secret means a webhook without a secret key.
func startPython(t *testing.T, secret string) *pyReceiver {
	t.Helper()
	args := []string{filepath.Join(runtimetest.RepoRoot(t), "examples", "receivers", "altoviz.py"), "serve", "--port", "0"}
	if secret != "" {
		args = append(args, "--secret", secret)
	}
	cmd := exec.Command(python(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the python receiver: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	if !lines.Scan() {
		t.Fatalf("the python receiver did not start: %s", stderr.String())
	}
	var hello struct{ Listening int }
	if err := json.Unmarshal(lines.Bytes(), &hello); err != nil || hello.Listening == 0 {
		t.Fatalf("python receiver said %q: %v", lines.Text(), err)
	}
	r := &pyReceiver{URL: fmt.Sprintf("http://127.0.0.1:%d", hello.Listening), more: make(chan struct{}, 1)}
	go func() {
		for lines.Scan() {
			var c call
			if err := json.Unmarshal(lines.Bytes(), &c); err != nil {
				c = call{Error: "unreadable report: " + lines.Text()}
			}
			r.mu.Lock()
			r.calls = append(r.calls, c)
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
	}()
	return r
}

// waitFor returns the first n calls once they have arrived.
func (r *pyReceiver) waitFor(t *testing.T, n int) []call {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := append([]call(nil), r.calls...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-deadline.C:
			t.Fatalf("the python receiver got %d calls within %v, want %d", len(got), wait, n)
		}
	}
}

func (r *pyReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// waitForState waits until the delivery of an event to a subscription is in state.
func waitForState(t *testing.T, c company, eventID, subscriptionID, state string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for d := deliveryFor(t, c, eventID, subscriptionID); d.State != state; d = deliveryFor(t, c, eventID, subscriptionID) {
		if time.Now().After(deadline) {
			t.Fatalf("delivery %+v is not %s", d, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
