// Package sdk is what a Switchyard plugin is written against. A plugin is a set of plain Go
// functions: Shape turns an event into the HTTP request a subscriber receives; the optional
// OnSubscribe sends a handshake when a subscription is created; the optional OnResponse judges what
// the subscriber answered. The SDK hides the WebAssembly ABI (memory, packing, framing), and the same
// code builds natively, so plugin logic is unit-tested with plain `go test` (see package sdktest).
//
// A plugin's wasm entry point is a main package that registers the plugin:
//
//	package main
//
//	import (
//		"example.com/myplugin"
//		"github.com/switchyard/switchyard/sdk"
//	)
//
//	func init() { sdk.Register(&myplugin.Plugin) }
//
//	func main() {}
//
// built with `switchyard plugin build DIR` (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
//
// Secrets never enter a plugin: it names a key (KeySubscription, KeyApp, KeyServer) and the host
// signs, or, for a format that sends a shared key itself, it puts a placeholder from Input.Secret
// where the key goes and the host writes the key there after the call. A pooled plugin instance serves many calls for many tenants, so plugins must not keep
// per-tenant state in globals.
package sdk

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ABIVersion is the version of the host-plugin contract this SDK speaks; abi_version() returns it.
const ABIVersion = 2

// Key references a plugin may sign with. The host resolves them; the plugin never sees the keys.
const (
	// KeySubscription is the subscription's signing secret. Secrets of the form "whsec_<base64>" are
	// used as their decoded bytes (the Standard Webhooks convention), all others as their raw bytes.
	KeySubscription = "subscription"
	// KeySubscriptionPrevious is the secret being rotated out, while its overlap window lasts; Sign
	// returns ErrNoKey outside that window.
	KeySubscriptionPrevious = "subscription.previous"
	// KeyApp is the secret of the integrator's app.
	KeyApp = "app"
	// KeyServer is the server's RSA private key; its certificate is at Delivery.CertificateURL.
	// Receivers trust it for every subscription, so only built-in plugins and those the operator
	// grants it by name (switchyard serve --plugin-key-grants NAME=server) may sign with it; others
	// get ErrNotGranted, and the call fails.
	KeyServer = "server"
)

// Signature algorithms the host's sign function implements.
const (
	HMACSHA256 = "hmac-sha256"
	RSASHA1    = "rsa-sha1"   // RSASSA-PKCS1-v1_5 with SHA-1; KeyServer only
	RSASHA256  = "rsa-sha256" // RSASSA-PKCS1-v1_5 with SHA-256; KeyServer only
)

// Hook names, as listed in Manifest.Hooks and exported by the module.
const (
	HookOnSubscribe = "on_subscribe"
	HookOnResponse  = "on_response"
)

// Outcomes an OnResponse hook may give.
const (
	OutcomeSuccess = "success" // delivered; stop
	OutcomeRetry   = "retry"   // try again by the retry policy
	OutcomeGiveUp  = "give_up" // failed for good; stop without retrying
	OutcomeDisable = "disable" // failed for good and the subscription should be disabled
)

// Delivery kinds.
const (
	KindEvent     = "event"     // an event shaped by Shape
	KindHandshake = "handshake" // a request made by OnSubscribe
)

// ErrNoKey is returned by Sign when the key reference names no key for this call.
var ErrNoKey = errors.New("no such key")

// Plugin is a plugin's manifest and functions. Shape is required; the hooks are optional and are
// advertised in the manifest automatically when set.
type Plugin struct {
	Manifest    Manifest
	Shape       func(*Input) (*Request, error)
	OnSubscribe func(*Input) (*Request, error)
	OnResponse  func(*Input) (*Verdict, error)
}

// Manifest describes a plugin to the host.
type Manifest struct {
	// Name is how subscriptions select the plugin (their format): lowercase letters, digits, '-'
	// and '_', starting with a letter.
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// ABI is filled in by the SDK.
	ABI int `json:"abi"`
	// Events lists the canonical event types the plugin accepts and the vendor's name for each. This
	// is the one place a vendor's vocabulary lives; compatible APIs read it from here.
	Events []EventType `json:"events"`
	// Hooks is filled in by the SDK from the functions that are set.
	Hooks []string `json:"hooks,omitempty"`
	// Options are the settings a subscription may give this plugin (Subscription.Options).
	Options []Option `json:"options,omitempty"`
	// SampleEvent is an event in the publishing API's format that the plugin can shape; the host
	// dry-runs it before accepting an uploaded plugin.
	SampleEvent json.RawMessage `json:"sample_event,omitempty"`
	// DeliveryTimeoutMS, when set, is how long the subscriber has to answer, in place of the host's
	// default (a vendor style may promise its receivers a specific timeout).
	DeliveryTimeoutMS int `json:"delivery_timeout_ms,omitempty"`
	// MaxResponseBytes, when set, is how much of the subscriber's answer the host reads and gives
	// OnResponse, in place of its default (64 KiB): for styles whose receivers answer with data
	// the plugin must read whole.
	MaxResponseBytes int `json:"max_response_bytes,omitempty"`
	// VerbatimSecrets says the style's receivers key their HMAC with a subscription's secret exactly
	// as they were given it, where the host otherwise reads a "whsec_<base64>" secret as the bytes
	// it encodes (the Standard Webhooks convention). The host then generates such a style's secrets
	// as plain text, and keeps one a subscriber chose in a form that signs with its own bytes, so the
	// secret the subscriber is shown is always the key its receiver must use.
	VerbatimSecrets bool `json:"verbatim_secrets,omitempty"`
}

// EventType maps one canonical event type, or a pattern of them ("client.*", "*"), to the vendor's
// vocabulary.
type EventType struct {
	Type  string `json:"type"`
	Name  string `json:"name,omitempty"`
	Group string `json:"group,omitempty"`
}

// Option is a per-subscription setting a plugin understands.
type Option struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Default     string   `json:"default,omitempty"`
	Values      []string `json:"values,omitempty"`
}

// EventName returns the vendor's name for a canonical event type, from the first entry of Events
// whose Type matches it, or "" when none does.
func (m *Manifest) EventName(eventType string) string {
	for _, e := range m.Events {
		if MatchType(e.Type, eventType) {
			return e.Name
		}
	}
	return ""
}

// MatchType reports whether a canonical event type ("client.create") matches a pattern: an exact
// type, "object.*", "*.action" or "*".
func MatchType(pattern, eventType string) bool {
	if pattern == "*" || pattern == eventType {
		return true
	}
	pObj, pAct, ok := strings.Cut(pattern, ".")
	if !ok {
		return false
	}
	eObj, eAct, ok := strings.Cut(eventType, ".")
	if !ok {
		return false
	}
	return (pObj == "*" || pObj == eObj) && (pAct == "*" || pAct == eAct)
}

// Input is what the host passes to every call. Byte slices (Event.Data, Response.Body) are valid
// only during the call.
type Input struct {
	Event        Event
	Subscription Subscription
	Account      Account
	App          App
	Delivery     Delivery
	// State is JSON the host keeps for this subscriber on the plugin's behalf (for example data an
	// OnResponse hook asked to keep), or nil.
	State json.RawMessage
	// Response is set for OnResponse only.
	Response *Response

	host Host
	// secrets are the placeholders Secret handed out during this call; the SDK attaches them to
	// the request the call returns.
	secrets []SecretRef
}

// Event is a published event.
type Event struct {
	ID         string
	Type       string // canonical "object.action"
	AccountID  string
	Entity     Entity
	OccurredAt time.Time
	// User is who caused the event, when the publisher said.
	User *User
	// Source is how the change came about, when the publisher said.
	Source *Source
	// Data is the entity as raw JSON, exactly as published: embed it, there is no need to parse it.
	Data json.RawMessage
	// Previous is the entity before an update, as raw JSON, when the publisher sent it.
	Previous json.RawMessage
}

// Source is how an event's change came about: Type "api" for a change made through the
// platform's API; Info an optional JSON object describing it (raw, as published).
type Source struct {
	Type string
	Info json.RawMessage
}

// SourceAPI is the Source.Type of changes made through the platform's API.
const SourceAPI = "api"

// Entity names what the event is about.
type Entity struct {
	Type string
	ID   string
}

// User is a person on the publishing platform.
type User struct {
	ID    string
	Name  string
	Email string
}

// Subscription is the subscriber's registration, without its secret.
type Subscription struct {
	ID        string
	AccountID string
	AppID     string
	URL       string
	Format    string
	EntityKey string
	// HasSecret tells whether Sign(KeySubscription, ...) has a key to sign with.
	HasSecret bool
	Options   map[string]string
}

// Account is the publishing platform's tenant the event belongs to.
type Account struct {
	ID   string
	Name string
	// ExternalID is the platform's numeric id for the tenant, 0 when it gave none: for formats
	// whose vendor numbers tenants.
	ExternalID int64
}

// App is the integrator that owns the subscription.
type App struct {
	ID   string
	Name string
	URL  string
	// ExternalID is the platform's numeric id for the integrator, 0 when it gave none.
	ExternalID int64
}

// Delivery is this attempt's context. URLs are minted by the host and are empty unless the plugin's
// style uses them.
type Delivery struct {
	// ID is stable across retries, so receivers can drop duplicates.
	ID      string
	Attempt int
	Kind    string
	// CallbackURL is a one-time URL the subscriber may post a result to later.
	CallbackURL string
	// ConfirmURL activates a subscription that awaits confirmation.
	ConfirmURL string
	// UnsubscribeURL removes the subscription.
	UnsubscribeURL string
	// CertificateURL serves the certificate of KeyServer.
	CertificateURL string
}

// Response is what the subscriber answered.
type Response struct {
	Status  int
	Headers []Header
	// Body is possibly truncated by the host.
	Body []byte
}

// Header returns the first value of the response header name, matched case-insensitively.
func (r *Response) Header(name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Header is one HTTP header line; a slice of them keeps the order a receiver sees.
type Header struct {
	Name  string
	Value string
}

// Request is what a plugin asks the host to send.
type Request struct {
	// Method defaults to POST.
	Method string
	// URL, when set, replaces the subscription's URL; otherwise Path, when set, is appended to it.
	URL     string
	Path    string
	Headers []Header
	Body    []byte
	// Secrets are the placeholders the host replaces with secrets before sending (see
	// Input.Secret, which fills this in).
	Secrets []SecretRef
}

// SetHeader adds a header line, or replaces the value of the first one with that name.
func (r *Request) SetHeader(name, value string) {
	for i := range r.Headers {
		if strings.EqualFold(r.Headers[i].Name, name) {
			r.Headers[i].Value = value
			return
		}
	}
	r.Headers = append(r.Headers, Header{Name: name, Value: value})
}

// Verdict is an OnResponse hook's judgement of a response.
type Verdict struct {
	Outcome string
	// RetryAfter, when positive, asks for the next attempt no sooner than this.
	RetryAfter time.Duration
	// Message is recorded with the attempt.
	Message string
	// Keep is JSON for the host to keep (see Input.State); the host's handling depends on the style.
	Keep json.RawMessage
}

// Error is an error a plugin returns on purpose. The host keeps the instance that returned it and
// records Message; Retryable asks the host to try the delivery again later.
type Error struct {
	Message   string
	Retryable bool
}

func (e *Error) Error() string { return e.Message }

// Retryable marks err as worth retrying (a dependency that may recover); other plugin errors fail
// the delivery for good.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Message: err.Error(), Retryable: true}
}

// Host is what a plugin asks of the host during a call. Inside the sandbox it is the host's import
// functions; natively (tests) it is whatever the caller provides, such as sdktest.Host.
type Host interface {
	// Sign returns the signature of msg under the key keyRef names, or ErrNoKey.
	Sign(keyRef, alg string, msg []byte) ([]byte, error)
	Now() time.Time
	// Random fills p with cryptographically random bytes.
	Random(p []byte)
	Log(level LogLevel, msg string)
}

// LogLevel orders log messages; the host maps them to its own levels.
type LogLevel int32

const (
	LevelDebug LogLevel = iota
	LevelInfo
	LevelWarn
	LevelError
)

// Sign signs msg with the key keyRef names (see the Key constants) using alg (see HMACSHA256 ...).
func (in *Input) Sign(keyRef, alg string, msg []byte) ([]byte, error) {
	return in.host.Sign(keyRef, alg, msg)
}

// Now returns the host's wall-clock time.
func (in *Input) Now() time.Time { return in.host.Now() }

// Random returns n cryptographically random bytes.
func (in *Input) Random(n int) []byte {
	p := make([]byte, n)
	in.host.Random(p)
	return p
}

// Log writes a message to the host's log, attributed to the plugin.
func (in *Input) Log(level LogLevel, msg string) { in.host.Log(level, msg) }
