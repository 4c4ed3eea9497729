package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/sdk"
)

// MaxPublishBatch is the most events one publish call takes.
const MaxPublishBatch = 500

const maxIdempotencyKeyLen = 255

// NewEvent is an event as a publisher sends it.
type NewEvent struct {
	AccountID      string          `json:"account_id"`
	Type           string          `json:"type"`
	Entity         Entity          `json:"entity"`
	Data           json.RawMessage `json:"data"`
	PreviousData   json.RawMessage `json:"previous_data"`
	User           *User           `json:"user"`
	Source         *EventSource    `json:"source"`
	IdempotencyKey string          `json:"idempotency_key"`
	OccurredAt     *time.Time      `json:"occurred_at"`
	DeliverAt      *time.Time      `json:"deliver_at"`
	// DataChecked says the decoder that made this event has already checked Data and
	// PreviousData are JSON (api/web's decoders check every value they read), so Publish does not
	// scan them a second time: that scan was about 1.6% of the server's CPU in the load
	// generator's runs.
	DataChecked bool `json:"-"`
}

// Published is what became of one published event.
type Published struct {
	ID string `json:"id"`
	// Duplicate says an event with the same idempotency key was already accepted; ID is that
	// event's, and nothing new was created.
	Duplicate  bool `json:"duplicate"`
	Deliveries int  `json:"deliveries"`
}

// Publish validates events and commits them, with their deliveries, in one transaction; it returns
// only after the commit, so an accepted event is never lost. Either every event is accepted or
// none is.
func (e *Engine) Publish(ctx context.Context, p *Principal, in []NewEvent) ([]Published, error) {
	if !p.HasScope(ScopePublish) {
		return nil, fmt.Errorf("publishing needs the %s scope: %w", ScopePublish, ErrForbidden)
	}
	if !p.publishesAnywhere() {
		return nil, fmt.Errorf("this credential publishes into no account: the operator issues publishing credentials with an account_id, or with all_accounts for a platform backend: %w", ErrForbidden)
	}
	switch {
	case len(in) == 0:
		return nil, invalidf("events", "no events given")
	case len(in) > MaxPublishBatch:
		return nil, invalidf("events", "at most %d events per call, got %d", MaxPublishBatch, len(in))
	}
	now := e.now()
	events := make([]*Event, len(in))
	known := map[string]bool{}
	for i := range in {
		prefix := ""
		if len(in) > 1 {
			prefix = fmt.Sprintf("events[%d].", i)
		}
		ev, err := e.checkEvent(ctx, p, &in[i], prefix, now, known)
		if err != nil {
			return nil, err
		}
		events[i] = ev
	}
	results, err := e.ingester.submit(ctx, events)
	if err != nil {
		return nil, err
	}
	out := make([]Published, len(results))
	for i, r := range results {
		out[i] = Published{ID: r.EventID, Duplicate: r.Duplicate, Deliveries: r.Deliveries}
	}
	return out, nil
}

func (e *Engine) checkEvent(ctx context.Context, p *Principal, in *NewEvent, prefix string, now time.Time, known map[string]bool) (*Event, error) {
	if in.AccountID == "" {
		return nil, invalidf(prefix+"account_id", "is required")
	}
	if p.Credential != nil && p.Credential.AccountID != "" && p.Credential.AccountID != in.AccountID {
		return nil, fmt.Errorf("this credential publishes for account %s only: %w", p.Credential.AccountID, ErrForbidden)
	}
	if !known[in.AccountID] {
		if _, ok := e.accounts.Load(in.AccountID); !ok {
			if _, err := e.store.GetAccount(ctx, in.AccountID); err != nil {
				return nil, accountRef(prefix+"account_id", in.AccountID, err)
			}
			e.accounts.Store(in.AccountID, struct{}{})
		}
		known[in.AccountID] = true
	}
	if err := in.check(prefix); err != nil {
		return nil, err
	}
	data := in.Data
	if len(data) == 0 || string(data) == "null" {
		data = json.RawMessage("{}")
	}
	ev := &Event{
		ID: NewID("evt"), AccountID: in.AccountID, Type: in.Type, Entity: in.Entity, Data: data,
		PreviousData: in.PreviousData, User: in.User, Source: in.Source, IdempotencyKey: in.IdempotencyKey,
		OccurredAt: now, CreatedAt: now,
	}
	if in.OccurredAt != nil {
		ev.OccurredAt = in.OccurredAt.UTC().Truncate(time.Millisecond)
	}
	if in.DeliverAt != nil {
		at := in.DeliverAt.UTC().Truncate(time.Millisecond)
		ev.DeliverAt = &at
	}
	return ev, nil
}

// Validate checks an event as POST /v1/events does, all but whether its account exists and the
// caller may publish to it; prefix names it within a batch ("events[3].").
func (in *NewEvent) Validate(prefix string) error {
	if in.AccountID == "" {
		return invalidf(prefix+"account_id", "is required")
	}
	return in.check(prefix)
}

// check is Validate past the account.
func (in *NewEvent) check(prefix string) error {
	if len(in.Type) > maxEventTypeLen {
		return invalidf(prefix+"type", "is at most %d characters", maxEventTypeLen)
	}
	if !sdk.IsEventType(in.Type) {
		return invalidf(prefix+"type", "%q is not an event type: object.action in lowercase, such as client.create", in.Type)
	}
	if in.Entity.Type == "" || in.Entity.ID == "" {
		return invalidf(prefix+"entity", "type and id are required")
	}
	if len(in.Entity.Type) > 128 || len(in.Entity.ID) > maxEntityKeyLen {
		return invalidf(prefix+"entity", "type is at most 128 characters and id at most %d", maxEntityKeyLen)
	}
	if len(in.IdempotencyKey) > maxIdempotencyKeyLen {
		return invalidf(prefix+"idempotency_key", "is at most %d characters", maxIdempotencyKeyLen)
	}
	if !in.DataChecked && len(in.Data) > 0 && string(in.Data) != "null" && !json.Valid(in.Data) {
		return invalidf(prefix+"data", "is not valid JSON")
	}
	if !in.DataChecked && len(in.PreviousData) > 0 && !json.Valid(in.PreviousData) {
		return invalidf(prefix+"previous_data", "is not valid JSON")
	}
	if in.User != nil && in.User.ID == "" {
		return invalidf(prefix+"user.id", "is required when user is given")
	}
	if err := checkSource(prefix, in.Source); err != nil {
		return err
	}
	return nil
}

// maxSourceTypeLen bounds a source type, one word as an event type's halves are.
const maxSourceTypeLen = 32

// isSourceType reports whether t matches ^[a-z][a-z0-9_]{0,31}$.
func isSourceType(t string) bool { return len(t) <= maxSourceTypeLen && sdk.IsTypeWord(t) }

// maxSourceInfoBytes bounds an event's source info: it rides along with every delivery.
const maxSourceInfoBytes = 4096

func checkSource(prefix string, src *EventSource) error {
	if src == nil {
		return nil
	}
	if !isSourceType(src.Type) {
		return invalidf(prefix+"source.type", "%q is not a source type: 1-32 lowercase letters, digits or '_', such as api", src.Type)
	}
	info := bytes.TrimSpace(src.Info)
	if len(info) == 0 || string(info) == "null" {
		src.Info = nil
		return nil
	}
	if info[0] != '{' || !json.Valid(info) {
		return invalidf(prefix+"source.info", "must be a JSON object, such as {\"api_key\": \"crm-sync\"}")
	}
	if len(info) > maxSourceInfoBytes {
		return invalidf(prefix+"source.info", "is at most %d bytes", maxSourceInfoBytes)
	}
	src.Info = info
	return nil
}

// GetEvent returns an event to the operator or a publisher.
func (e *Engine) GetEvent(ctx context.Context, p *Principal, id string) (*Event, error) {
	if !p.HasScope(ScopePublish) {
		return nil, fmt.Errorf("reading events needs the %s scope: %w", ScopePublish, ErrForbidden)
	}
	ev, err := e.store.GetEvent(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.publishesAnywhere() || (p.boundAccount() != "" && p.boundAccount() != ev.AccountID) {
		return nil, notFound("event", id)
	}
	return ev, nil
}

// publishesAnywhere reports whether the principal publishes into some account: the operator into
// every one, a credential bound to an account into that one, and one of the whole app only when
// the operator issued it for all accounts.
func (p *Principal) publishesAnywhere() bool {
	return p.Admin || p.boundAccount() != "" || (p.Credential != nil && p.Credential.AllAccounts)
}

// EventQuery selects the caller's events, newest first.
type EventQuery struct {
	AccountID string
	Type      string
	// Since (inclusive) and Until (exclusive) bound when the events were accepted.
	Since, Until *time.Time
	// Before is the cursor: the ID of the last event of the previous page.
	Before string
	Limit  int
}

// ListEvents lists the events the caller may read one by one (GetEvent): the operator's and an
// all-accounts credential's, every account's; a credential bound to an account, that account's.
func (e *Engine) ListEvents(ctx context.Context, p *Principal, q EventQuery) ([]*Event, error) {
	if !p.HasScope(ScopePublish) {
		return nil, fmt.Errorf("reading events needs the %s scope: %w", ScopePublish, ErrForbidden)
	}
	if !p.publishesAnywhere() {
		return nil, fmt.Errorf("this credential publishes into no account, so it reads no events: %w", ErrForbidden)
	}
	account, err := p.accountScope(q.AccountID)
	if err != nil {
		return nil, err
	}
	if q.Since != nil && q.Until != nil && !q.Until.After(*q.Since) {
		return nil, invalidf("until", "must be after since")
	}
	f := EventFilter{AccountID: account, Type: q.Type, Before: q.Before, Limit: normalizePage(Page{Limit: q.Limit}).Limit}
	if q.Since != nil {
		f.Since = q.Since.UTC()
	}
	if q.Until != nil {
		f.Until = q.Until.UTC()
	}
	return e.store.ListEvents(ctx, f)
}
