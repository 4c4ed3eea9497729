// Package sqlrow holds what store/sqlite and store/postgres share about the core's rows: a row type
// per table that sqlx scans into, its column list in the same order for SELECT and RETURNING, its
// conversion to the engine's type and back, and how times are stored. Both drivers store the same
// values in the same columns; a Dialect covers the few places where PostgreSQL's types refuse what
// SQLite keeps.
//
// It lives under internal/ so that the drivers stay the only way in: a vendor style's store uses
// the drivers' exported helpers (ToMS, FromMS, ...), which forward to these.
package sqlrow

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/sdk/wire"
)

// Dialect is what differs between the drivers in how a row's values are bound.
type Dialect struct {
	// CleanText makes text from outside the engine (an error a receiver or a plugin caused)
	// storable; nil keeps it as it is. PostgreSQL's TEXT refuses NUL bytes and invalid UTF-8
	// where SQLite keeps any bytes.
	CleanText func(string) string
	// BinaryBodies binds an attempt's bodies as bytes (PostgreSQL's BYTEA, kept byte for byte as a
	// receiver sent them) rather than as text (SQLite's TEXT column, which must stay TEXT for the
	// databases already written).
	BinaryBodies bool
}

// Text is s as the driver can store it.
func (d Dialect) Text(s string) string {
	if d.CleanText == nil {
		return s
	}
	return d.CleanText(s)
}

func (d Dialect) body(s string) any {
	if d.BinaryBodies {
		return []byte(s)
	}
	return s
}

// Times are unix milliseconds in the database, in every table, a style's too. Changing how would
// make every database already written unreadable.

// ToMS is how a time is stored.
func ToMS(t time.Time) int64 { return t.UnixMilli() }

// FromMS reads a stored time, in UTC.
func FromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// ToNullMS stores an optional time; nil is NULL.
func ToNullMS(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// FromNullMS reads an optional time.
func FromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := FromMS(v.Int64)
	return &t
}

// NullIfEmpty stores an empty string as NULL, for optional references and unique keys.
func NullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// NullIfZero is NULL for 0: a delivery outside any ordered queue has no sequence.
func NullIfZero(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: n != 0} }

// NullInt is how an optional number is stored: NULL when absent.
func NullInt(v *int64) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *v, Valid: true}
}

func fromNullInt(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

// LimitClause is " LIMIT n", or nothing for a limit of zero or less, which means no limit.
func LimitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// NotFound is the error for a missing row.
func NotFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, engine.ErrNotFound) }

const AccountCols = `id, name, created_at, external_id`

type Account struct {
	ID         string        `db:"id"`
	Name       string        `db:"name"`
	CreatedAt  int64         `db:"created_at"`
	ExternalID sql.NullInt64 `db:"external_id"`
}

func (r *Account) Engine() *engine.Account {
	return &engine.Account{ID: r.ID, Name: r.Name, ExternalID: fromNullInt(r.ExternalID), CreatedAt: FromMS(r.CreatedAt)}
}

const AppCols = `id, name, url, secret, created_at, external_id`

type App struct {
	ID         string        `db:"id"`
	Name       string        `db:"name"`
	URL        string        `db:"url"`
	Secret     string        `db:"secret"`
	CreatedAt  int64         `db:"created_at"`
	ExternalID sql.NullInt64 `db:"external_id"`
}

func (r *App) Engine() *engine.App {
	return &engine.App{ID: r.ID, Name: r.Name, URL: r.URL, ExternalID: fromNullInt(r.ExternalID), Secret: r.Secret, CreatedAt: FromMS(r.CreatedAt)}
}

const CredentialCols = `id, app_id, account_id, kind, client_id, scopes, is_primary, secret_hash, created_at, revoked_at, all_accounts, user_id`

type Credential struct {
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

func (r *Credential) Engine() (*engine.Credential, error) {
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

const SubscriptionCols = `id, app_id, account_id, credential_id, format, events, entity_key, url, options,
	secret, previous_secret, previous_secret_expires_at, state, disabled_reason, retry_policy,
	failing_since, confirm_token_hash, version, max_per_second, paused_at, created_at, updated_at, ordering, on_dead`

type Subscription struct {
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

func (r *Subscription) Engine() (*engine.Subscription, error) {
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

// SubscriptionJSON is what a subscription stores as JSON.
type SubscriptionJSON struct {
	Events, Options string
	RetryPolicy     sql.NullString
}

func EncodeSubscription(s *engine.Subscription) (SubscriptionJSON, error) {
	var j SubscriptionJSON
	events, err := json.Marshal(s.Events)
	if err != nil {
		return j, fmt.Errorf("events: %w", err)
	}
	options, err := json.Marshal(s.Options)
	if err != nil {
		return j, fmt.Errorf("options: %w", err)
	}
	j.Events, j.Options = string(events), string(options)
	if s.RetryPolicy != nil {
		b, err := json.Marshal(s.RetryPolicy)
		if err != nil {
			return j, fmt.Errorf("retry_policy: %w", err)
		}
		j.RetryPolicy = sql.NullString{String: string(b), Valid: true}
	}
	return j, nil
}

const EventCols = `id, account_id, type, entity_type, entity_id, data, previous_data, actor,
	idempotency_key, occurred_at, deliver_at, created_at, source`

type Event struct {
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

func (r *Event) Engine() (*engine.Event, error) {
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

// EventArgs are an event's values in EventCols order.
func EventArgs(ev *engine.Event) ([]any, error) {
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
		NullIfEmpty(ev.IdempotencyKey), ToMS(ev.OccurredAt), ToNullMS(ev.DeliverAt), ToMS(ev.CreatedAt), source,
	}, nil
}

const DeliveryCols = `id, event_id, subscription_id, app_id, kind, state, attempts, next_attempt_at,
	lease_until, lease_owner, last_status, last_error, created_at, updated_at, ordering_key, sequence`

// InsertDeliverySQL takes DeliveryArgs, with ? placeholders.
const InsertDeliverySQL = `INSERT INTO deliveries (` + DeliveryCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

type Delivery struct {
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

func (r *Delivery) Engine() *engine.Delivery {
	return &engine.Delivery{
		ID: r.ID, EventID: r.EventID.String, SubscriptionID: r.SubscriptionID, AppID: r.AppID,
		Kind: engine.DeliveryKind(r.Kind), State: engine.DeliveryState(r.State), Attempts: r.Attempts,
		NextAttemptAt: FromMS(r.NextAttemptAt), LeaseUntil: FromNullMS(r.LeaseUntil),
		LeaseOwner: r.LeaseOwner, LastStatus: r.LastStatus, LastError: r.LastError,
		CreatedAt: FromMS(r.CreatedAt), UpdatedAt: FromMS(r.UpdatedAt),
		OrderingKey: r.OrderingKey.String, Sequence: r.Sequence.Int64,
	}
}

// DeliveryArgs are a delivery's values in DeliveryCols order.
func (d Dialect) DeliveryArgs(del *engine.Delivery) []any {
	return []any{
		del.ID, NullIfEmpty(del.EventID), del.SubscriptionID, del.AppID, string(del.Kind), string(del.State),
		del.Attempts, ToMS(del.NextAttemptAt), ToNullMS(del.LeaseUntil), del.LeaseOwner, del.LastStatus, d.Text(del.LastError),
		ToMS(del.CreatedAt), ToMS(del.UpdatedAt),
		NullIfEmpty(del.OrderingKey), NullIfZero(del.Sequence),
	}
}

const AttemptCols = `delivery_id, number, started_at, duration_ms, plugin_version, request_method,
	request_url, request_headers, request_body, response_status, response_headers, response_body,
	outcome, error, kept`

type Attempt struct {
	DeliveryID     string         `db:"delivery_id"`
	Number         int            `db:"number"`
	StartedAt      int64          `db:"started_at"`
	DurationMS     int64          `db:"duration_ms"`
	PluginVersion  string         `db:"plugin_version"`
	RequestMethod  string         `db:"request_method"`
	RequestURL     string         `db:"request_url"`
	RequestHeaders sql.NullString `db:"request_headers"`
	// The bodies are scanned as bytes, which both SQLite's TEXT and PostgreSQL's BYTEA give
	// unchanged.
	RequestBody     []byte         `db:"request_body"`
	ResponseStatus  int            `db:"response_status"`
	ResponseHeaders sql.NullString `db:"response_headers"`
	ResponseBody    []byte         `db:"response_body"`
	Outcome         string         `db:"outcome"`
	Error           string         `db:"error"`
	Kept            sql.NullString `db:"kept"`
}

func (r *Attempt) Engine() (*engine.Attempt, error) {
	a := &engine.Attempt{
		DeliveryID: r.DeliveryID, Number: r.Number, StartedAt: FromMS(r.StartedAt), DurationMS: r.DurationMS,
		PluginVersion: r.PluginVersion, RequestMethod: r.RequestMethod, RequestURL: r.RequestURL,
		RequestBody: string(r.RequestBody), ResponseStatus: r.ResponseStatus, ResponseBody: string(r.ResponseBody),
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

// AttemptArgs are an attempt's values in AttemptCols order.
func (d Dialect) AttemptArgs(a *engine.Attempt) []any {
	reqH, respH := headersJSON(a.RequestHeaders), headersJSON(a.ResponseHeaders)
	var kept sql.NullString
	if len(a.Kept) > 0 {
		kept = sql.NullString{String: string(a.Kept), Valid: true}
	}
	return []any{
		a.DeliveryID, a.Number, ToMS(a.StartedAt), a.DurationMS, a.PluginVersion, a.RequestMethod,
		a.RequestURL, reqH, d.body(a.RequestBody), a.ResponseStatus, respH, d.body(a.ResponseBody), a.Outcome, d.Text(a.Error), kept,
	}
}

// headersJSON stores no headers as NULL.
//
// It writes the JSON itself: every attempt stores two lists, and encoding/json's reflection was
// 0.8% of the server's CPU in the load generator's 16 x 20 run. wire's strings decode to what
// encoding/json's do (invalid UTF-8 as U+FFFD, FuzzStringRoundTrip), so what is read back is the
// same.
func headersJSON(h []engine.HeaderLine) sql.NullString {
	if h == nil {
		return sql.NullString{}
	}
	size := 2
	for _, l := range h {
		size += len(l.Name) + len(l.Value) + len(`{"name":"","value":""},`)
	}
	w := wire.NewWriter(make([]byte, 0, size))
	w.BeginArray()
	for _, l := range h {
		w.BeginObject()
		w.StringField("name", l.Name)
		w.StringField("value", l.Value)
		w.EndObject()
	}
	w.EndArray()
	return sql.NullString{String: string(w.Buf), Valid: true}
}

const GrantCols = `id, app_id, account_id, events, created_at, revoked_at`

type Grant struct {
	ID        string        `db:"id"`
	AppID     string        `db:"app_id"`
	AccountID string        `db:"account_id"`
	Events    string        `db:"events"`
	CreatedAt int64         `db:"created_at"`
	RevokedAt sql.NullInt64 `db:"revoked_at"`
}

func (r *Grant) Engine() (*engine.Grant, error) {
	g := &engine.Grant{ID: r.ID, AppID: r.AppID, AccountID: r.AccountID, CreatedAt: FromMS(r.CreatedAt), RevokedAt: FromNullMS(r.RevokedAt)}
	if err := json.Unmarshal([]byte(r.Events), &g.Events); err != nil {
		return nil, fmt.Errorf("grant %s: events: %w", r.ID, err)
	}
	return g, nil
}

const AccountUserCols = `account_id, user_id, permissions, created_at, updated_at`

type AccountUser struct {
	AccountID   string `db:"account_id"`
	UserID      string `db:"user_id"`
	Permissions string `db:"permissions"`
	CreatedAt   int64  `db:"created_at"`
	UpdatedAt   int64  `db:"updated_at"`
}

func (r *AccountUser) Engine() (*engine.AccountUser, error) {
	u := &engine.AccountUser{AccountID: r.AccountID, ID: r.UserID, CreatedAt: FromMS(r.CreatedAt), UpdatedAt: FromMS(r.UpdatedAt)}
	if err := json.Unmarshal([]byte(r.Permissions), &u.Permissions); err != nil {
		return nil, fmt.Errorf("user %q of account %q: permissions: %w", r.UserID, r.AccountID, err)
	}
	if u.Permissions == nil {
		u.Permissions = []string{}
	}
	return u, nil
}

// padIDs returns ids padded to a power of two by repeating the last, so that IN lists of many
// sizes share a few statement texts, and the prepared statements with them.
func padIDs(ids []string) []string {
	n := 1
	for n < len(ids) {
		n <<= 1
	}
	for len(ids) < n {
		ids = append(ids, ids[len(ids)-1])
	}
	return ids
}

// maxIn bounds the IDs bound to one statement.
const maxIn = 512

// Distinct sorts ids and removes repeats, in place.
func Distinct(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// SelectIn runs query, whose one (?) takes ids, on q and appends the rows to dest, in chunks
// (InChunks); rebind, if not nil, turns the placeholders into the driver's. The rows are scanned
// straight into dest, made room for first: sqlx appends, and growing the slice row by row was a
// quarter of what a claim allocated.
func SelectIn[T any](ctx context.Context, q sqlx.QueryerContext, rebind func(string) string, dest *[]T, query string, ids []string) error {
	*dest = slices.Grow(*dest, len(ids))
	return InChunks(ids, func(chunk []string) error {
		qs, args, err := sqlx.In(query, chunk)
		if err != nil {
			return err
		}
		if rebind != nil {
			qs = rebind(qs)
		}
		return sqlx.SelectContext(ctx, q, dest, qs, args...)
	})
}

// InChunks calls fn with the ids in chunks of at most maxIn, each padded by padIDs.
func InChunks(ids []string, fn func(chunk []string) error) error {
	for len(ids) > 0 {
		n := min(len(ids), maxIn)
		chunk := padIDs(slices.Clone(ids[:n]))
		if err := fn(chunk); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}
