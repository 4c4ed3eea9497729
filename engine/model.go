package engine

import (
	"encoding/json"
	"time"
)

// Account is a tenant of the publishing platform. Every event belongs to one.
type Account struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// ExternalID is the platform's numeric id for the tenant, for styles whose vendor numbers
	// tenants (Upsales' customer.id); nil when the platform gave none.
	ExternalID *int64    `json:"external_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// App is an integrator: it owns subscriptions and presents credentials.
type App struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// URL is the app's base URL; styles that require it check callbacks lie within it.
	URL string `json:"url,omitempty"`
	// ExternalID is the platform's numeric id for the integrator, for styles whose vendor numbers
	// apps (Upsales' appId); nil when the platform gave none.
	ExternalID *int64 `json:"external_id,omitempty"`
	// Secret is the app's signing secret (sdk.KeyApp). It is shown once, at creation.
	Secret    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// CredentialKind says how a credential is presented.
type CredentialKind string

const (
	// CredentialAPIKey is a key sent as a bearer token or in x-api-key.
	CredentialAPIKey CredentialKind = "api_key"
	// CredentialClient is a client_id and client_secret pair.
	CredentialClient CredentialKind = "client"
	// CredentialAccessToken is a token an account granted an app, with scopes.
	CredentialAccessToken CredentialKind = "access_token"
)

// Scopes with a meaning to the native API.
const (
	ScopePublish = "events:publish"
)

// Credential is what an app presents. Its secret is stored only as a hash.
type Credential struct {
	ID        string         `json:"id"`
	AppID     string         `json:"app_id"`
	AccountID string         `json:"account_id,omitempty"`
	Kind      CredentialKind `json:"kind"`
	// ClientID identifies a client credential; it is public.
	ClientID string   `json:"client_id,omitempty"`
	Scopes   []string `json:"scopes"`
	// Primary credentials may manage notification endpoints in styles that restrict it (iVvy).
	Primary bool `json:"primary"`
	// AllAccounts lets an unbound events:publish credential publish into, and read back the events
	// of, every account: a platform backend's. Only the operator issues it, and only by asking.
	AllAccounts bool `json:"all_accounts,omitempty"`
	// UserID is the account's user who granted an access token (a user recorded with
	// PutAccountUser), when the platform said: styles with roles (SalesKing) deliver to the
	// token's subscriptions only what that user may see.
	UserID     string     `json:"user_id,omitempty"`
	SecretHash []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Grant is an account's permission for an app to receive some of its events: what lets a
// credential of the whole app (bound to no account) subscribe to the account, and see the
// deliveries of its subscriptions there. A credential bound to an account needs none: the account
// granted it by issuing it.
type Grant struct {
	ID        string `json:"id"`
	AppID     string `json:"app_id"`
	AccountID string `json:"account_id"`
	// Events are the types or patterns the app may subscribe to ("client.*", "*").
	Events    []string   `json:"events"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// SubscriptionState is where a subscription is in its life.
type SubscriptionState string

const (
	SubscriptionPending  SubscriptionState = "pending_confirmation"
	SubscriptionActive   SubscriptionState = "active"
	SubscriptionDisabled SubscriptionState = "disabled"
)

// Subscription is an app's registration to receive an account's events in one format.
type Subscription struct {
	ID        string `json:"id"`
	AppID     string `json:"app_id"`
	AccountID string `json:"account_id"`
	// CredentialID is the credential that created it; revoking an access token removes its
	// subscriptions.
	CredentialID string `json:"credential_id,omitempty"`
	// Format is the name of the plugin that shapes its deliveries.
	Format string `json:"format"`
	// Events are canonical types or patterns ("client.*").
	Events []string `json:"events"`
	// EntityKey, when set, limits the subscription to one entity's events.
	EntityKey string            `json:"entity_key,omitempty"`
	URL       string            `json:"url"`
	Options   map[string]string `json:"options,omitempty"`
	// Secret signs deliveries (sdk.KeySubscription); it is shown once, at creation.
	Secret string `json:"-"`
	// PreviousSecret still signs, beside Secret, until PreviousSecretExpiresAt.
	PreviousSecret          string            `json:"-"`
	PreviousSecretExpiresAt *time.Time        `json:"previous_secret_expires_at,omitempty"`
	State                   SubscriptionState `json:"state"`
	DisabledReason          string            `json:"disabled_reason,omitempty"`
	RetryPolicy             *RetryPolicy      `json:"retry_policy,omitempty"`
	// MaxPerSecond caps how fast deliveries go to this subscriber; deliveries over the cap wait,
	// none is dropped. Zero means no cap.
	MaxPerSecond float64 `json:"max_per_second,omitempty"`
	// Ordering sends deliveries one at a time, in the order their events were accepted: per entity
	// (OrderingEntity), all of them (OrderingSubscription), or not at all (OrderingNone, the default).
	Ordering Ordering `json:"ordering"`
	// OnDead says what a dead delivery of an ordered subscription does to those behind it.
	OnDead OnDead `json:"on_dead"`
	// Held is how many deliveries of an ordered subscription wait behind an earlier one, and behind
	// which; the engine fills it in when it reads a subscription for the API.
	Held *Held `json:"held,omitempty"`
	// FailingSince is when deliveries began to fail without a success since; nil when healthy.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// PausedAt is when an operator paused the subscription: its events still make deliveries,
	// but none is sent until it is resumed. Nil when not paused.
	PausedAt *time.Time `json:"paused_at,omitempty"`
	// Circuit is the subscription's circuit breaker on this node; the engine fills it in when it
	// reads a subscription for the API, the store never holds it.
	Circuit *Circuit `json:"circuit,omitempty"`
	// ConfirmTokenHash is HashToken of the token in the confirmation and unsubscribe URLs of a
	// subscription that has them, else empty. The token itself is never stored: the engine derives
	// it from the subscription's ID whenever a delivery carries the URLs (Engine.ConfirmToken).
	ConfirmTokenHash string `json:"-"`
	// Version counts writes, so that a read-modify-write cannot undo a write it did not see.
	Version   int       `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Entity names what an event is about.
type Entity struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// User is who caused an event on the publishing platform.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Event is something that happened on the publishing platform.
type Event struct {
	ID        string          `json:"id"`
	AccountID string          `json:"account_id"`
	Type      string          `json:"type"`
	Entity    Entity          `json:"entity"`
	Data      json.RawMessage `json:"data"`
	// PreviousData is the entity before an update, when the publisher sends it.
	PreviousData json.RawMessage `json:"previous_data,omitempty"`
	User         *User           `json:"user,omitempty"`
	// Source says how the change came about, when the publisher said: {"type": "api", "info": {...}}
	// for a change made through the platform's API (iVvy's SourceType 1 and SourceInfo).
	Source         *EventSource `json:"source,omitempty"`
	IdempotencyKey string       `json:"idempotency_key,omitempty"`
	OccurredAt     time.Time    `json:"occurred_at"`
	// DeliverAt holds deliveries back until then.
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// EventSource is how an event's change came about.
type EventSource struct {
	// Type is "api" for a change made through the platform's API (with an API key), or another
	// word the publisher chooses ("user", "import"); styles that know only API sources treat the
	// others as unknown.
	Type string `json:"type"`
	// Info is an optional JSON object describing the source (the API key's name, say).
	Info json.RawMessage `json:"info,omitempty"`
}

// SourceAPI is the source type of changes made through the platform's API.
const SourceAPI = "api"

// DeliveryState is where a delivery is in its life.
type DeliveryState string

const (
	// DeliveryPending is due at NextAttemptAt: the first attempt, or a retry.
	DeliveryPending DeliveryState = "pending"
	// DeliveryInFlight is claimed by a dispatcher until LeaseUntil.
	DeliveryInFlight  DeliveryState = "in_flight"
	DeliverySucceeded DeliveryState = "succeeded"
	// DeliveryFailed ended without success and will not be retried: the plugin gave up, or the
	// subscription was disabled.
	DeliveryFailed DeliveryState = "failed"
	// DeliveryDead used up its attempts. It can be retried by hand.
	DeliveryDead DeliveryState = "dead"
	// DeliverySkipped ended unsent, on purpose rather than by failure: a style's rule said its
	// receiver must not have it (StyleHooks.Skip: a SalesKing user without the permission), or
	// the operator skipped it. Nothing reached the receiver; it can be retried by hand, which asks
	// the rule again.
	DeliverySkipped DeliveryState = "skipped"
)

// OutcomeSkip is the outcome of the attempt that records a delivery skipped by a style's rule:
// no request was made. It is the host's, not a plugin's (sdk.OutcomeSuccess and the others).
const OutcomeSkip = "skip"

// DeliveryKind says what a delivery carries.
type DeliveryKind string

const (
	// DeliveryEvent carries an event, shaped by the plugin's shape.
	DeliveryEvent DeliveryKind = "event"
	// DeliveryHandshake carries the request the plugin's on_subscribe made for a new subscription.
	DeliveryHandshake DeliveryKind = "handshake"
)

// Delivery is one event (or handshake) for one subscription.
type Delivery struct {
	ID             string        `json:"id"`
	EventID        string        `json:"event_id,omitempty"`
	SubscriptionID string        `json:"subscription_id"`
	AppID          string        `json:"app_id"`
	Kind           DeliveryKind  `json:"kind"`
	State          DeliveryState `json:"state"`
	Attempts       int           `json:"attempts"`
	NextAttemptAt  time.Time     `json:"next_attempt_at"`
	LeaseUntil     *time.Time    `json:"lease_until,omitempty"`
	// LeaseOwner is the node holding the lease (engine.Config.NodeID), while in flight.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LastStatus int       `json:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// OrderingKey names the ordered queue the delivery waits in ("type:id" of its event's entity,
	// or "*" for the whole subscription); empty when its subscription was not ordered.
	OrderingKey string `json:"ordering_key,omitempty"`
	// Sequence is the delivery's place in its queue, from 1, given at ingest in the order events
	// were accepted; receivers see it in the Switchyard-Sequence header.
	Sequence int64 `json:"sequence,omitempty"`
}

// Attempt is one try at a delivery: what was sent, what came back.
type Attempt struct {
	DeliveryID string    `json:"delivery_id"`
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS int64     `json:"duration_ms"`
	// PluginVersion is the plugin version (name@version#hash prefix) that shaped the request.
	PluginVersion   string       `json:"plugin_version,omitempty"`
	RequestMethod   string       `json:"request_method,omitempty"`
	RequestURL      string       `json:"request_url,omitempty"`
	RequestHeaders  []HeaderLine `json:"request_headers,omitempty"`
	RequestBody     string       `json:"request_body,omitempty"`
	ResponseStatus  int          `json:"response_status,omitempty"`
	ResponseHeaders []HeaderLine `json:"response_headers,omitempty"`
	ResponseBody    string       `json:"response_body,omitempty"`
	// Outcome is the verdict: success, retry, give_up or disable.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// Kept is data the plugin's on_response asked to keep.
	Kept json.RawMessage `json:"kept,omitempty"`
}

// HeaderLine is one HTTP header as sent or received.
type HeaderLine struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
