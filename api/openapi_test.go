package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("api/openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	return doc
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPICoverage keeps the document and the server in step: every route a real node registers
// under /v1 (engine, plugins API and the native routes styles add) is in the document with its
// method, and every operation in the document is served: not the router's 404 or 405.
func TestOpenAPICoverage(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	n := nodetest.Start(t, nodetest.Options{})

	registered := map[string]bool{}
	for _, r := range n.Server().Echo().Routes() {
		if r.Method == echo.RouteNotFound || !strings.HasPrefix(r.Path, "/v1/") {
			continue
		}
		path := echoParam.ReplaceAllString(r.Path, "{$1}")
		registered[r.Method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("the server registers %s %s; api/openapi.json does not describe it", r.Method, path)
		}
	}
	if len(registered) < 30 {
		t.Fatalf("only %d routes under /v1: %v", len(registered), registered)
	}

	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	sort.Strings(ops)
	// The probes name things that do not exist and send an empty object: whatever the handler
	// answers (404 of the thing, 422), it is not the router's.
	probe := n.Admin.WithT(t)
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		if strings.HasPrefix(path, "/v1/") && !registered[op] {
			t.Errorf("api/openapi.json describes %s, which the server does not register", op)
		}
		url := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "openapi-probe")
		var body any
		if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
			body = map[string]any{}
		}
		resp := probe.Do(method, url, body)
		if resp.Status == http.StatusMethodNotAllowed || resp.Status == http.StatusNotFound && routerNotFound(resp.Body) {
			t.Errorf("%s is in api/openapi.json but not served: %d %s", op, resp.Status, resp.Body)
		}
	}
}

// routerNotFound tells the router's 404 (no route) from a handler's (no such thing).
func routerNotFound(body []byte) bool {
	var b struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(body, &b)
	return b.Error.Message == http.StatusText(http.StatusNotFound)
}

// TestOpenAPIServed serves the document without a credential.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	resp := n.Client("").MustDo("GET", "/v1/openapi.json", nil, http.StatusOK, nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	var got map[string]any
	resp.JSON(t, &got)
	if got["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", got["openapi"])
	}
}

// TestOpenAPISchemas checks that the validator the end-to-end tests use enforces what the document
// means: unknown fields refused (a secret in a read of an app), required fields, enums, times,
// null where Go sends it. kin-openapi validates 3.1 schemas with 2020-12-only keywords
// (unevaluatedProperties) by JSON Schema 2020-12 and others by its 3.0 validator; both kinds are here.
func TestOpenAPISchemas(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for _, c := range []struct {
		schema, value string
		ok            bool
	}{
		{"NewCredential", `{"kind":"api_key","scopes":null}`, true},
		{"NewCredential", `{"kind":"api_key","bogus":1}`, false},
		{"NewCredential", `{"kind":"nope"}`, false},
		{"AppWithSecret", `{"id":"a","name":"n","created_at":"2026-01-01T00:00:00Z","secret":"s"}`, true},
		{"AppWithSecret", `{"id":"a","name":"n","created_at":"2026-01-01T00:00:00Z","secret":"s","bogus":1}`, false},
		{"AppWithSecret", `{"id":"a","name":"n","created_at":"2026-01-01T00:00:00Z"}`, false},
		{"App", `{"id":"a","name":"n","created_at":"2026-01-01T00:00:00Z","secret":"s"}`, false},
		{"App", `{"id":"a","name":"n","created_at":"not a time"}`, false},
		{"Subscription", `{"id":"a","app_id":"a","account_id":"a","format":"f","events":["x"],"url":"u","state":"active","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","retry_policy":{"schedule":["5s",3]}}`, true},
		{"Subscription", `{"id":"a","app_id":"a","account_id":"a","format":"f","events":["x"],"url":"u","state":"weird","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`, false},
		{"NewEvent", `{"type":"a.b","entity":{"type":"t","id":"i"},"data":null,"user":null}`, true},
		{"NewEvent", `{"type":"a.b","entity":{"type":"t"}}`, false},
		{"Error", `{"error":{"code":"x","message":"y"}}`, true},
		{"Error", `{"error":{"code":"x"}}`, false},
		{"DeliveryWithAttempts", `{"id":"d","subscription_id":"s","app_id":"a","kind":"event","state":"dead","attempts":1,"next_attempt_at":"2026-01-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","attempt_log":[{"delivery_id":"d","number":1,"started_at":"2026-01-01T00:00:00Z","duration_ms":3,"outcome":"retry","extra":1}]}`, false},
	} {
		var v any
		if err := json.Unmarshal([]byte(c.value), &v); err != nil {
			t.Fatal(err)
		}
		err := doc.Components.Schemas[c.schema].Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
		if (err == nil) != c.ok {
			t.Errorf("%s %s: %v, want ok=%v", c.schema, c.value, err, c.ok)
		}
	}
}

// TestRetryDeadDelivery: a delivery whose subscription allows no retries dies on its first 500;
// retrying it by hand (202, pending again) sends it again under the same id, and it succeeds.
func TestRetryDeadDelivery(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	rc.SetRespond(func(i int, _ *nodetest.Request) (int, http.Header, string) {
		if i == 0 {
			return http.StatusInternalServerError, nil, "down"
		}
		return http.StatusNoContent, nil, ""
	})
	tn := n.NewTenant("retry", "")
	subscribe(t, tn, rc.URL, map[string]any{"retry_policy": map[string]any{"schedule": []string{}}})
	ev := publish(t, tn, nil)
	d := deliveryOf(t, tn, ev.ID, "dead")
	var retried delivery
	tn.App.MustDo("POST", "/v1/deliveries/"+d.ID+"/retry", nil, http.StatusAccepted, &retried)
	if retried.ID != d.ID || retried.State != "pending" {
		t.Fatalf("retry answered %+v", retried)
	}
	d = deliveryOf(t, tn, ev.ID, "succeeded")
	got := rc.WaitFor(t, 2, 10*time.Second)
	if got[1].Header.Get("webhook-id") != d.ID || d.Attempts != 2 {
		t.Errorf("sent again as %q; delivery %+v", got[1].Header.Get("webhook-id"), d)
	}
}
