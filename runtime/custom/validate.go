package custom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/sdk"
)

// RefusedError is why a module was not accepted. It matches engine.ErrInvalid (the API answers
// 422) and whatever it wraps (runtime.ErrInvalidPlugin for what Load refused); its message is the
// whole reason, meant for the plugin's author.
type RefusedError struct {
	Err error
}

func (e *RefusedError) Error() string   { return e.Err.Error() }
func (e *RefusedError) Unwrap() []error { return []error{engine.ErrInvalid, e.Err} }

func refused(format string, args ...any) error {
	return &RefusedError{Err: fmt.Errorf(format, args...)}
}

// TestSubscription is the subscription a dry run shapes for: the fields of the subscription API
// that reach a plugin. Zero fields get defaults (a receiver URL, a generated secret).
type TestSubscription struct {
	ID        string            `json:"id"`
	URL       string            `json:"url"`
	Secret    string            `json:"secret"`
	EntityKey string            `json:"entity_key"`
	Options   map[string]string `json:"options"`
}

// Shaped is the request a dry run produced, as a receiver would get it.
type Shaped struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Headers []engine.HeaderLine `json:"headers"`
	Body    string              `json:"body"`
	// Secret is the subscription secret it was signed with.
	Secret string `json:"secret"`
	// AppSecret is the test app's key, when the plugin asked the host to write it into the request.
	AppSecret string `json:"app_secret,omitempty"`
}

// TestAppSecret is the app's key in a dry run, for plugins that sign with it or send it.
const TestAppSecret = "test-app-secret"

// DryRun shapes one event, given as POST /v1/events takes it, with p, through the same runtime and
// the same input the dispatcher builds, and checks that the result could be sent.
func DryRun(ctx context.Context, p *runtime.Plugin, eventJSON []byte, ts TestSubscription) (*Shaped, error) {
	var ev engine.Event
	dec := json.NewDecoder(strings.NewReader(string(eventJSON)))
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("the event is not an event as POST /v1/events takes it: %w", err)
	}
	if ev.Type == "" {
		return nil, errors.New(`the event has no "type"`)
	}
	m := p.Manifest()
	if !acceptsType(&m, ev.Type) {
		return nil, fmt.Errorf("the event's type %q is not one the manifest's events accept", ev.Type)
	}
	now := time.Now().UTC()
	if ev.ID == "" {
		ev.ID = "evt_test"
	}
	if ev.AccountID == "" {
		ev.AccountID = "acc_test"
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now.Truncate(time.Millisecond)
	}
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage("{}")
	}
	if ts.URL == "" {
		ts.URL = "https://receiver.example/webhooks"
	}
	if ts.Secret == "" {
		ts.Secret = engine.NewSigningSecret()
	}
	if ts.ID == "" {
		ts.ID = "sub_test"
	}
	s := &engine.Subscription{
		ID: ts.ID, AppID: "app_test", AccountID: ev.AccountID, Format: m.Name,
		URL: ts.URL, EntityKey: ts.EntityKey, Options: ts.Options, Secret: ts.Secret,
	}
	d := &engine.Delivery{ID: "dlv_test", EventID: ev.ID, SubscriptionID: s.ID, Kind: engine.DeliveryEvent}
	app := &engine.App{ID: "app_test", Name: "Test app", Secret: TestAppSecret}
	// Styles that use the URLs the host mints get placeholders, so that every plugin can be dry run.
	urls := engine.DeliveryURLs{
		Callback:    "https://switchyard.example/hooks/callbacks/test",
		Confirm:     engine.ConfirmURL("https://switchyard.example", "test-token"),
		Unsubscribe: engine.UnsubscribeURL("https://switchyard.example", "test-token"),
		Certificate: "https://switchyard.example/hooks/certificates/test.pem",
	}
	in := engine.PluginInput(&ev, s, app, &engine.Account{ID: ev.AccountID, Name: "Test account"}, d, urls)
	keys := engine.Keys(s, app, now)
	req, err := p.Shape(ctx, in, keys)
	if err != nil {
		return nil, err
	}
	url := engine.RequestURL(s, req)
	appSecret := ""
	if len(req.Secrets) > 0 {
		appSecret = TestAppSecret
	}
	// Shown as the subscriber gets it, with the secrets the plugin asked for written in; refused
	// as the dispatcher would refuse it, when it takes a secret or a signature elsewhere.
	if req, _, err = engine.FillSecrets(s, url, req, keys); err != nil {
		return nil, err
	}
	// Headers named as the API's attempts name them, so that one reader takes both.
	headers := make([]engine.HeaderLine, len(req.Headers))
	for i, h := range req.Headers {
		headers[i] = engine.HeaderLine{Name: h.Name, Value: h.Value}
	}
	out := &Shaped{Method: req.Method, URL: url, Headers: headers, Body: string(req.Body), Secret: ts.Secret, AppSecret: appSecret}
	if out.Method == "" {
		out.Method = "POST"
	}
	if err := checkSendable(out); err != nil {
		return nil, err
	}
	return out, nil
}

func acceptsType(m *sdk.Manifest, eventType string) bool {
	for _, e := range m.Events {
		if sdk.MatchType(e.Type, eventType) {
			return true
		}
	}
	return false
}

// checkSendable refuses requests the HTTP client would refuse at every delivery: better said once,
// at upload, than as an error on every attempt.
func checkSendable(s *Shaped) error {
	var problems []string
	if !isToken(s.Method) {
		problems = append(problems, fmt.Sprintf("method %q is not an HTTP method", s.Method))
	}
	if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
		problems = append(problems, fmt.Sprintf("url %q is not an http(s) URL", s.URL))
	}
	for _, h := range s.Headers {
		if !isToken(h.Name) {
			problems = append(problems, fmt.Sprintf("header name %q is not a valid HTTP header name", h.Name))
		}
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			problems = append(problems, fmt.Sprintf("header %s has a value with a line break or NUL", h.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the request cannot be sent: %s", strings.Join(problems, "; "))
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token, the syntax of methods and header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Validate loads a module the way a custom plugin must pass before it serves: it compiles, imports
// only what the host provides, exports the ABI with the right signatures and version, returns a
// valid manifest (named want, when want is set), has a sample_event, and shapes that sample event
// into a request that can be sent. All of it runs sandboxed, whatever mode is asked for, so that
// a module that loops in _initialize or in shape is cut off by the deadline; a module accepted for
// Trusted mode is then loaded again, trusted. grants names the keys the operator granted a
// plugin, by its manifest's name; a plugin granted some is loaded again with them before the dry
// run. Every refusal is a *RefusedError that says what is wrong.
func Validate(ctx context.Context, rt *runtime.Runtime, wasm []byte, want string, mode runtime.Mode, grants func(name string) []runtime.Grant) (*runtime.Plugin, error) {
	p, err := rt.Load(ctx, wasm, runtime.Sandboxed)
	if err != nil {
		if errors.Is(err, runtime.ErrInvalidPlugin) {
			return nil, &RefusedError{Err: err}
		}
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	closeP := func() { p.Close(context.WithoutCancel(ctx)) }
	m := p.Manifest()
	if want != "" && m.Name != want {
		closeP()
		return nil, refused("invalid plugin: the manifest's name is %q, but it was uploaded as %q", m.Name, want)
	}
	var granted []runtime.Grant
	if grants != nil {
		granted = grants(m.Name)
	}
	if len(granted) > 0 {
		closeP()
		if p, err = rt.Load(ctx, wasm, runtime.Sandboxed, granted...); err != nil {
			return nil, fmt.Errorf("load plugin %s with its grants: %w", m.Name, err)
		}
	}
	if len(m.SampleEvent) == 0 {
		closeP()
		return nil, refused("invalid plugin: manifest has no sample_event; a custom plugin must carry an event it can shape (Manifest.SampleEvent), which the host dry-runs before accepting it")
	}
	if _, err := DryRun(ctx, p, m.SampleEvent, TestSubscription{}); err != nil {
		closeP()
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, refused("invalid plugin: the dry run of its sample_event failed: %w", err)
	}
	if mode == runtime.Sandboxed {
		return p, nil
	}
	closeP()
	trusted, err := rt.Load(ctx, wasm, mode, granted...)
	if err != nil {
		return nil, fmt.Errorf("load plugin %s trusted: %w", m.Name, err)
	}
	return trusted, nil
}
