package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/switchyard/switchyard/engine"
)

// Each table has a row type that sqlx scans into, a column list in the same order for SELECT and
// RETURNING, and a conversion to the engine's type.

const accountCols = `id, name, created_at, external_id`

type accountRow struct {
	ID         string        `db:"id"`
	Name       string        `db:"name"`
	CreatedAt  int64         `db:"created_at"`
	ExternalID sql.NullInt64 `db:"external_id"`
}

func (r *accountRow) account() *engine.Account {
	return &engine.Account{ID: r.ID, Name: r.Name, ExternalID: externalID(r.ExternalID), CreatedAt: FromMS(r.CreatedAt)}
}

const appCols = `id, name, url, secret, created_at, external_id`

type appRow struct {
	ID         string        `db:"id"`
	Name       string        `db:"name"`
	URL        string        `db:"url"`
	Secret     string        `db:"secret"`
	CreatedAt  int64         `db:"created_at"`
	ExternalID sql.NullInt64 `db:"external_id"`
}

func (r *appRow) app() *engine.App {
	return &engine.App{ID: r.ID, Name: r.Name, URL: r.URL, ExternalID: externalID(r.ExternalID), Secret: r.Secret, CreatedAt: FromMS(r.CreatedAt)}
}

func externalID(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

// nullInt is how an optional number is stored: NULL when absent.
func nullInt(v *int64) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *v, Valid: true}
}

const credentialCols = `id, app_id, account_id, kind, client_id, scopes, is_primary, secret_hash, created_at, revoked_at, all_accounts, user_id`

type credentialRow struct {
	ID          string         `db:"id"`
	AppID       string         `db:"app_id"`
	AccountID   sql.NullString `db:"account_id"`
	Kind        string         `db:"kind"`
	ClientID    sql.NullString `db:"client_id"`
	Scopes      string         `db:"scopes"`
	Primary     bool           `db:"is_primary"`
	SecretHash  []byte         `db:"secret_hash"`
	CreatedAt   int64          `db:"created_at"`
	RevokedAt   sql.NullInt64  `db:"revoked_at"`
	AllAccounts bool           `db:"all_accounts"`
	UserID      sql.NullString `db:"user_id"`
}

func (r *credentialRow) credential() (*engine.Credential, error) {
	c := &engine.Credential{
		ID: r.ID, AppID: r.AppID, AccountID: r.AccountID.String, Kind: engine.CredentialKind(r.Kind),
		ClientID: r.ClientID.String, Primary: r.Primary, SecretHash: r.SecretHash,
		CreatedAt: FromMS(r.CreatedAt), RevokedAt: FromNullMS(r.RevokedAt), AllAccounts: r.AllAccounts,
		UserID: r.UserID.String,
	}
	if err := json.Unmarshal([]byte(r.Scopes), &c.Scopes); err != nil {
		return nil, fmt.Errorf("credential %s: scopes: %w", r.ID, err)
	}
	return c, nil
}

const subscriptionCols = `id, app_id, account_id, credential_id, format, events, entity_key, url, options,
	secret, previous_secret, previous_secret_expires_at, state, disabled_reason, retry_policy,
	failing_since, confirm_token_hash, version, max_per_second, paused_at, created_at, updated_at, ordering, on_dead`

type subscriptionRow struct {
	ID                      string         `db:"id"`
	AppID                   string         `db:"app_id"`
	AccountID               string         `db:"account_id"`
	CredentialID            sql.NullString `db:"credential_id"`
	Format                  string         `db:"format"`
	Events                  string         `db:"events"`
	EntityKey               string         `db:"entity_key"`
	URL                     string         `db:"url"`
	Options                 string         `db:"options"`
	Secret                  string         `db:"secret"`
	PreviousSecret          string         `db:"previous_secret"`
	PreviousSecretExpiresAt sql.NullInt64  `db:"previous_secret_expires_at"`
	State                   string         `db:"state"`
	DisabledReason          string         `db:"disabled_reason"`
	RetryPolicy             sql.NullString `db:"retry_policy"`
	FailingSince            sql.NullInt64  `db:"failing_since"`
	ConfirmTokenHash        sql.NullString `db:"confirm_token_hash"`
	Version                 int            `db:"version"`
	MaxPerSecond            float64        `db:"max_per_second"`
	PausedAt                sql.NullInt64  `db:"paused_at"`
	CreatedAt               int64          `db:"created_at"`
	UpdatedAt               int64          `db:"updated_at"`
	Ordering                string         `db:"ordering"`
	OnDead                  string         `db:"on_dead"`
}

func (r *subscriptionRow) subscription() (*engine.Subscription, error) {
	s := &engine.Subscription{
		ID: r.ID, AppID: r.AppID, AccountID: r.AccountID, CredentialID: r.CredentialID.String,
		Format: r.Format, EntityKey: r.EntityKey, URL: r.URL, Secret: r.Secret,
		PreviousSecret: r.PreviousSecret, PreviousSecretExpiresAt: FromNullMS(r.PreviousSecretExpiresAt),
		State: engine.SubscriptionState(r.State), DisabledReason: r.DisabledReason,
		FailingSince: FromNullMS(r.FailingSince), ConfirmTokenHash: r.ConfirmTokenHash.String,
		Version: r.Version, MaxPerSecond: r.MaxPerSecond, PausedAt: FromNullMS(r.PausedAt), CreatedAt: FromMS(r.CreatedAt), UpdatedAt: FromMS(r.UpdatedAt),
		Ordering: engine.Ordering(r.Ordering), OnDead: engine.OnDead(r.OnDead),
	}
	if err := json.Unmarshal([]byte(r.Events), &s.Events); err != nil {
		return nil, fmt.Errorf("subscription %s: events: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Options), &s.Options); err != nil {
		return nil, fmt.Errorf("subscription %s: options: %w", r.ID, err)
	}
	if r.RetryPolicy.Valid {
		s.RetryPolicy = new(engine.RetryPolicy)
		if err := json.Unmarshal([]byte(r.RetryPolicy.String), s.RetryPolicy); err != nil {
			return nil, fmt.Errorf("subscription %s: retry_policy: %w", r.ID, err)
		}
	}
	return s, nil
}

// subscriptionJSON is what a subscription stores as JSON.
type subscriptionJSON struct {
	events, options string
	retryPolicy     sql.NullString
}

func encodeSubscription(s *engine.Subscription) (subscriptionJSON, error) {
	var j subscriptionJSON
	events, err := json.Marshal(s.Events)
	if err != nil {
		return j, fmt.Errorf("events: %w", err)
	}
	options, err := json.Marshal(s.Options)
	if err != nil {
		return j, fmt.Errorf("options: %w", err)
	}
	j.events, j.options = string(events), string(options)
	if s.RetryPolicy != nil {
		b, err := json.Marshal(s.RetryPolicy)
		if err != nil {
			return j, fmt.Errorf("retry_policy: %w", err)
		}
		j.retryPolicy = sql.NullString{String: string(b), Valid: true}
	}
	return j, nil
}

const eventCols = `id, account_id, type, entity_type, entity_id, data, previous_data, actor,
	idempotency_key, occurred_at, deliver_at, created_at, source`

type eventRow struct {
	ID             string         `db:"id"`
	AccountID      string         `db:"account_id"`
	Type           string         `db:"type"`
	EntityType     string         `db:"entity_type"`
	EntityID       string         `db:"entity_id"`
	Data           []byte         `db:"data"`
	PreviousData   []byte         `db:"previous_data"`
	Actor          sql.NullString `db:"actor"`
	IdempotencyKey sql.NullString `db:"idempotency_key"`
	OccurredAt     int64          `db:"occurred_at"`
	DeliverAt      sql.NullInt64  `db:"deliver_at"`
	CreatedAt      int64          `db:"created_at"`
	Source         sql.NullString `db:"source"`
}

func (r *eventRow) event() (*engine.Event, error) {
	ev := &engine.Event{
		ID: r.ID, AccountID: r.AccountID, Type: r.Type,
		Entity:         engine.Entity{Type: r.EntityType, ID: r.EntityID},
		IdempotencyKey: r.IdempotencyKey.String, OccurredAt: FromMS(r.OccurredAt),
		DeliverAt: FromNullMS(r.DeliverAt), CreatedAt: FromMS(r.CreatedAt),
	}
	if len(r.Data) > 0 {
		ev.Data = r.Data
	}
	if r.PreviousData != nil {
		ev.PreviousData = r.PreviousData
	}
	if r.Actor.Valid {
		ev.User = new(engine.User)
		if err := json.Unmarshal([]byte(r.Actor.String), ev.User); err != nil {
			return nil, fmt.Errorf("event %s: user: %w", r.ID, err)
		}
	}
	if r.Source.Valid {
		ev.Source = new(engine.EventSource)
		if err := json.Unmarshal([]byte(r.Source.String), ev.Source); err != nil {
			return nil, fmt.Errorf("event %s: source: %w", r.ID, err)
		}
	}
	return ev, nil
}

// eventArgs are an event's values in eventCols order.
func eventArgs(ev *engine.Event) ([]any, error) {
	var actor sql.NullString
	if ev.User != nil {
		b, err := json.Marshal(ev.User)
		if err != nil {
			return nil, fmt.Errorf("user: %w", err)
		}
		actor = sql.NullString{String: string(b), Valid: true}
	}
	data := []byte(ev.Data)
	if data == nil {
		data = []byte{}
	}
	var prev any // NULL unless given
	if ev.PreviousData != nil {
		prev = []byte(ev.PreviousData)
	}
	var source sql.NullString
	if ev.Source != nil {
		b, err := json.Marshal(ev.Source)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		source = sql.NullString{String: string(b), Valid: true}
	}
	return []any{
		ev.ID, ev.AccountID, ev.Type, ev.Entity.Type, ev.Entity.ID, data, prev, actor,
		toNullString(ev.IdempotencyKey), ToMS(ev.OccurredAt), ToNullMS(ev.DeliverAt), ToMS(ev.CreatedAt), source,
	}, nil
}

const deliveryCols = `id, event_id, subscription_id, app_id, kind, state, attempts, next_attempt_at,
	lease_until, lease_owner, last_status, last_error, created_at, updated_at, ordering_key, sequence`

type deliveryRow struct {
	ID             string         `db:"id"`
	EventID        sql.NullString `db:"event_id"`
	SubscriptionID string         `db:"subscription_id"`
	AppID          string         `db:"app_id"`
	Kind           string         `db:"kind"`
	State          string         `db:"state"`
	Attempts       int            `db:"attempts"`
	NextAttemptAt  int64          `db:"next_attempt_at"`
	LeaseUntil     sql.NullInt64  `db:"lease_until"`
	LeaseOwner     string         `db:"lease_owner"`
	LastStatus     int            `db:"last_status"`
	LastError      string         `db:"last_error"`
	CreatedAt      int64          `db:"created_at"`
	UpdatedAt      int64          `db:"updated_at"`
	OrderingKey    sql.NullString `db:"ordering_key"`
	Sequence       sql.NullInt64  `db:"sequence"`
}

func (r *deliveryRow) delivery() *engine.Delivery {
	return &engine.Delivery{
		ID: r.ID, EventID: r.EventID.String, SubscriptionID: r.SubscriptionID, AppID: r.AppID,
		Kind: engine.DeliveryKind(r.Kind), State: engine.DeliveryState(r.State), Attempts: r.Attempts,
		NextAttemptAt: FromMS(r.NextAttemptAt), LeaseUntil: FromNullMS(r.LeaseUntil),
		LeaseOwner: r.LeaseOwner, LastStatus: r.LastStatus, LastError: r.LastError,
		CreatedAt: FromMS(r.CreatedAt), UpdatedAt: FromMS(r.UpdatedAt),
		OrderingKey: r.OrderingKey.String, Sequence: r.Sequence.Int64,
	}
}

// deliveryArgs are a delivery's values in deliveryCols order.
func deliveryArgs(d *engine.Delivery) []any {
	return []any{
		d.ID, toNullString(d.EventID), d.SubscriptionID, d.AppID, string(d.Kind), string(d.State),
		d.Attempts, ToMS(d.NextAttemptAt), ToNullMS(d.LeaseUntil), d.LeaseOwner, d.LastStatus, d.LastError,
		ToMS(d.CreatedAt), ToMS(d.UpdatedAt),
		toNullString(d.OrderingKey), toNullInt(d.Sequence),
	}
}

const insertDeliverySQL = `INSERT INTO deliveries (` + deliveryCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const attemptCols = `delivery_id, number, started_at, duration_ms, plugin_version, request_method,
	request_url, request_headers, request_body, response_status, response_headers, response_body,
	outcome, error, kept`

type attemptRow struct {
	DeliveryID      string         `db:"delivery_id"`
	Number          int            `db:"number"`
	StartedAt       int64          `db:"started_at"`
	DurationMS      int64          `db:"duration_ms"`
	PluginVersion   string         `db:"plugin_version"`
	RequestMethod   string         `db:"request_method"`
	RequestURL      string         `db:"request_url"`
	RequestHeaders  sql.NullString `db:"request_headers"`
	RequestBody     string         `db:"request_body"`
	ResponseStatus  int            `db:"response_status"`
	ResponseHeaders sql.NullString `db:"response_headers"`
	ResponseBody    string         `db:"response_body"`
	Outcome         string         `db:"outcome"`
	Error           string         `db:"error"`
	Kept            sql.NullString `db:"kept"`
}

func (r *attemptRow) attempt() (*engine.Attempt, error) {
	a := &engine.Attempt{
		DeliveryID: r.DeliveryID, Number: r.Number, StartedAt: FromMS(r.StartedAt), DurationMS: r.DurationMS,
		PluginVersion: r.PluginVersion, RequestMethod: r.RequestMethod, RequestURL: r.RequestURL,
		RequestBody: r.RequestBody, ResponseStatus: r.ResponseStatus, ResponseBody: r.ResponseBody,
		Outcome: r.Outcome, Error: r.Error,
	}
	if r.RequestHeaders.Valid {
		if err := json.Unmarshal([]byte(r.RequestHeaders.String), &a.RequestHeaders); err != nil {
			return nil, fmt.Errorf("attempt %s/%d: request_headers: %w", r.DeliveryID, r.Number, err)
		}
	}
	if r.ResponseHeaders.Valid {
		if err := json.Unmarshal([]byte(r.ResponseHeaders.String), &a.ResponseHeaders); err != nil {
			return nil, fmt.Errorf("attempt %s/%d: response_headers: %w", r.DeliveryID, r.Number, err)
		}
	}
	if r.Kept.Valid {
		a.Kept = json.RawMessage(r.Kept.String)
	}
	return a, nil
}

// attemptArgs are an attempt's values in attemptCols order.
func attemptArgs(a *engine.Attempt) ([]any, error) {
	reqH, err := headersJSON(a.RequestHeaders)
	if err != nil {
		return nil, fmt.Errorf("request_headers: %w", err)
	}
	respH, err := headersJSON(a.ResponseHeaders)
	if err != nil {
		return nil, fmt.Errorf("response_headers: %w", err)
	}
	var kept sql.NullString
	if len(a.Kept) > 0 {
		kept = sql.NullString{String: string(a.Kept), Valid: true}
	}
	return []any{
		a.DeliveryID, a.Number, ToMS(a.StartedAt), a.DurationMS, a.PluginVersion, a.RequestMethod,
		a.RequestURL, reqH, a.RequestBody, a.ResponseStatus, respH, a.ResponseBody, a.Outcome, a.Error, kept,
	}, nil
}

// headersJSON stores no headers as NULL.
func headersJSON(h []engine.HeaderLine) (sql.NullString, error) {
	if h == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

const grantCols = `id, app_id, account_id, events, created_at, revoked_at`

type grantRow struct {
	ID        string        `db:"id"`
	AppID     string        `db:"app_id"`
	AccountID string        `db:"account_id"`
	Events    string        `db:"events"`
	CreatedAt int64         `db:"created_at"`
	RevokedAt sql.NullInt64 `db:"revoked_at"`
}

func (r *grantRow) grant() (*engine.Grant, error) {
	g := &engine.Grant{ID: r.ID, AppID: r.AppID, AccountID: r.AccountID, CreatedAt: FromMS(r.CreatedAt), RevokedAt: FromNullMS(r.RevokedAt)}
	if err := json.Unmarshal([]byte(r.Events), &g.Events); err != nil {
		return nil, fmt.Errorf("grant %s: events: %w", r.ID, err)
	}
	return g, nil
}
