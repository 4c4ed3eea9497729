package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// base is the suite's "now": a fixed time at the millisecond precision a store keeps. Stores take
// every time from their arguments, so the tests need no clock.
var base = time.Date(2031, time.March, 4, 5, 6, 7, 8_000_000, time.UTC)

// at returns base moved by d.
func at(d time.Duration) time.Time { return base.Add(d) }

func ptr[T any](v T) *T { return &v }

// harness is one subtest's fresh store and the helpers that fill it.
type harness struct {
	t   *testing.T
	ctx context.Context
	s   engine.Store
}

func setup(t *testing.T, open func(t *testing.T) engine.Store) *harness {
	t.Helper()
	t.Parallel()
	return &harness{t: t, ctx: context.Background(), s: open(t)}
}

func (h *harness) account() *engine.Account {
	h.t.Helper()
	a := &engine.Account{ID: engine.NewID("acc"), Name: "Account", CreatedAt: base}
	if err := h.s.CreateAccount(h.ctx, a); err != nil {
		h.t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

func (h *harness) app() *engine.App {
	h.t.Helper()
	a := &engine.App{ID: engine.NewID("app"), Name: "App", URL: "https://app.example", Secret: engine.NewID("appsecret"), CreatedAt: base}
	if err := h.s.CreateApp(h.ctx, a); err != nil {
		h.t.Fatalf("CreateApp: %v", err)
	}
	return a
}

func (h *harness) credential(app *engine.App, edit ...func(*engine.Credential)) *engine.Credential {
	h.t.Helper()
	c := &engine.Credential{
		ID: engine.NewID("crd"), AppID: app.ID, Kind: engine.CredentialAPIKey, Scopes: []string{engine.ScopePublish},
		SecretHash: []byte{0xde, 0xad, 0xbe, 0xef}, CreatedAt: base,
	}
	for _, e := range edit {
		e(c)
	}
	if err := h.s.CreateCredential(h.ctx, c); err != nil {
		h.t.Fatalf("CreateCredential: %v", err)
	}
	return c
}

func newSubscription(app *engine.App, acc *engine.Account) *engine.Subscription {
	return &engine.Subscription{
		ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "standard",
		Events: []string{"client.*"}, URL: "https://receiver.example/hook", Secret: "whsec_c2VjcmV0",
		State: engine.SubscriptionActive, CreatedAt: base, UpdatedAt: base,
		// What a store reads back for a subscription stored without them.
		Ordering: engine.OrderingNone, OnDead: engine.OnDeadContinue,
	}
}

func (h *harness) sub(app *engine.App, acc *engine.Account, edit ...func(*engine.Subscription)) *engine.Subscription {
	h.t.Helper()
	s := newSubscription(app, acc)
	for _, e := range edit {
		e(s)
	}
	if err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: s}); err != nil {
		h.t.Fatalf("CreateSubscription: %v", err)
	}
	return s
}

func newEvent(acc *engine.Account, edit ...func(*engine.Event)) *engine.Event {
	ev := &engine.Event{
		ID: engine.NewID("evt"), AccountID: acc.ID, Type: "client.create",
		Entity: engine.Entity{Type: "client", ID: "c1"}, Data: json.RawMessage(`{"name":"Ada"}`),
		OccurredAt: base, CreatedAt: base,
	}
	for _, e := range edit {
		e(ev)
	}
	return ev
}

type route = func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery

func newDelivery(ev *engine.Event, s *engine.Subscription, due time.Time) *engine.Delivery {
	return &engine.Delivery{
		ID: engine.NewID("dlv"), EventID: ev.ID, SubscriptionID: s.ID, AppID: s.AppID,
		Kind: engine.DeliveryEvent, State: engine.DeliveryPending, NextAttemptAt: due,
		CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt,
	}
}

// routeAll routes every event to every subscription it is offered, due at due.
func routeAll(due time.Time) route {
	return func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		var out []*engine.Delivery
		for _, s := range subs {
			out = append(out, newDelivery(ev, s, due))
		}
		return out
	}
}

// routeTo routes every event to sub alone, due at due.
func routeTo(sub *engine.Subscription, due time.Time) route {
	return func(ev *engine.Event, subs []*engine.Subscription) []*engine.Delivery {
		for _, s := range subs {
			if s.ID == sub.ID {
				return []*engine.Delivery{newDelivery(ev, s, due)}
			}
		}
		return nil
	}
}

func (h *harness) ingest(r route, events ...*engine.Event) []engine.IngestResult {
	h.t.Helper()
	res, err := h.s.Ingest(h.ctx, engine.IngestParams{Events: events, Route: r})
	if err != nil {
		h.t.Fatalf("Ingest: %v", err)
	}
	if len(res) != len(events) {
		h.t.Fatalf("Ingest returned %d results for %d events", len(res), len(events))
	}
	return res
}

// deliver stores an event of sub's account routed to sub alone, due at due, and returns the
// stored delivery.
func (h *harness) deliver(sub *engine.Subscription, due time.Time, edit ...func(*engine.Event)) *engine.Delivery {
	h.t.Helper()
	acc := &engine.Account{ID: sub.AccountID}
	ev := newEvent(acc, edit...)
	res := h.ingest(routeTo(sub, due), ev)
	if res[0].Deliveries != 1 {
		h.t.Fatalf("Ingest made %d deliveries; want 1", res[0].Deliveries)
	}
	ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{EventID: ev.ID})
	if err != nil || len(ds) != 1 {
		h.t.Fatalf("ListDeliveries by event: %d deliveries, %v; want 1", len(ds), err)
	}
	return ds[0]
}

func (h *harness) claim(now time.Time, limit int) []*engine.Work {
	h.t.Helper()
	ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit})
	if err != nil {
		h.t.Fatalf("ClaimDue: %v", err)
	}
	return ws
}

// claimPer claims with a limit per subscription.
func (h *harness) claimPer(now time.Time, limit, perSubscription int) []*engine.Work {
	h.t.Helper()
	ws, err := h.s.ClaimDue(h.ctx, engine.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit, PerSubscription: perSubscription})
	if err != nil {
		h.t.Fatalf("ClaimDue: %v", err)
	}
	return ws
}

func (h *harness) complete(outs ...*engine.Outcome) {
	h.t.Helper()
	if err := h.s.Complete(h.ctx, outs); err != nil {
		h.t.Fatalf("Complete: %v", err)
	}
}

func (h *harness) delivery(id string) *engine.Delivery {
	h.t.Helper()
	d, err := h.s.GetDelivery(h.ctx, id)
	if err != nil {
		h.t.Fatalf("GetDelivery(%s): %v", id, err)
	}
	return d
}

func (h *harness) subscription(id string) *engine.Subscription {
	h.t.Helper()
	s, err := h.s.GetSubscription(h.ctx, id)
	if err != nil {
		h.t.Fatalf("GetSubscription(%s): %v", id, err)
	}
	return s
}

func (h *harness) attempts(deliveryID string) []*engine.Attempt {
	h.t.Helper()
	as, err := h.s.ListAttempts(h.ctx, deliveryID)
	if err != nil {
		h.t.Fatalf("ListAttempts(%s): %v", deliveryID, err)
	}
	return as
}

// outcome is a finished attempt at d, started at start.
func outcome(d *engine.Delivery, start time.Time, state engine.DeliveryState) *engine.Outcome {
	o := &engine.Outcome{
		Attempt: &engine.Attempt{
			DeliveryID: d.ID, StartedAt: start, DurationMS: 120, RequestMethod: "POST",
			RequestURL: "https://receiver.example/hook", ResponseStatus: 503, Error: "the receiver answered 503",
			Outcome: "retry",
		},
		State: state, SubscriptionID: d.SubscriptionID,
	}
	switch state {
	case engine.DeliveryPending:
		o.NextAttemptAt = start.Add(5 * time.Second)
	case engine.DeliverySucceeded:
		o.Attempt.ResponseStatus, o.Attempt.Error, o.Attempt.Outcome, o.Healthy = 200, "", "success", true
	case engine.DeliveryFailed:
		o.Attempt.Outcome = "give_up"
	case engine.DeliverySkipped:
		// A style's rule kept it from the receiver: no request, no answer.
		o.Attempt.RequestMethod, o.Attempt.RequestURL, o.Attempt.ResponseStatus = "", "", 0
		o.Attempt.Outcome, o.Attempt.Error = engine.OutcomeSkip, "user u-1 may not invoices:delete"
	}
	return o
}

// drive takes a pending delivery to state: claimed for in_flight, claimed and completed for the
// ends. It expects d to be the only delivery due at base.
func (h *harness) drive(d *engine.Delivery, state engine.DeliveryState) *engine.Delivery {
	h.t.Helper()
	if state == engine.DeliveryPending {
		return h.delivery(d.ID)
	}
	ws := h.claim(base, 10)
	if len(ws) != 1 || ws[0].Delivery.ID != d.ID {
		h.t.Fatalf("claimed %s; want only %s", workIDs(ws), d.ID)
	}
	if state != engine.DeliveryInFlight {
		h.complete(outcome(d, base, state))
	}
	got := h.delivery(d.ID)
	if got.State != state {
		h.t.Fatalf("delivery is %s; want %s", got.State, state)
	}
	return got
}

func workIDs(ws []*engine.Work) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.Delivery.ID
	}
	return ids
}

func deliveryIDs(ds []*engine.Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func subscriptionIDs(ss []*engine.Subscription) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func reversed(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Reverse(ids)
	return ids
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v; want one wrapping %v", what, err, target)
	}
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v; want %v (UTC)", what, got, want)
	}
}

func wantTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %s; want %s", what, showTimePtr(got), showTimePtr(want))
	default:
		wantTime(t, what, *got, *want)
	}
}

func showTimePtr(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.String()
}

// wantSame fails for every exported field of the structs want and got (pointers to them) that
// differ. Times compare with Equal and must be in UTC.
func wantSame(t *testing.T, what string, got, want any) {
	t.Helper()
	for _, d := range diff(got, want) {
		t.Errorf("%s: %s", what, d)
	}
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	timePtrType = reflect.TypeFor[*time.Time]()
)

func diff(got, want any) []string {
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	if gv.Kind() == reflect.Pointer {
		if gv.IsNil() || wv.IsNil() {
			if gv.IsNil() != wv.IsNil() {
				return []string{fmt.Sprintf("got %v, want %v", got, want)}
			}
			return nil
		}
		gv, wv = gv.Elem(), wv.Elem()
	}
	var out []string
	for i := range wv.NumField() {
		f := wv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		g, w := gv.Field(i), wv.Field(i)
		if !sameValue(g, w) {
			out = append(out, fmt.Sprintf("%s = %s; want %s", f.Name, show(g), show(w)))
		}
	}
	return out
}

func sameValue(g, w reflect.Value) bool {
	switch g.Type() {
	case timeType:
		gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
		return gt.Equal(wt) && gt.Location() == time.UTC
	case timePtrType:
		gt, wt := g.Interface().(*time.Time), w.Interface().(*time.Time)
		if gt == nil || wt == nil {
			return gt == nil && wt == nil
		}
		return gt.Equal(*wt) && gt.Location() == time.UTC
	}
	return reflect.DeepEqual(g.Interface(), w.Interface())
}

func show(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case json.RawMessage:
		if x == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", string(x))
	case []byte:
		return fmt.Sprintf("%x", x)
	case *time.Time:
		return showTimePtr(x)
	}
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return fmt.Sprintf("&%+v", v.Elem().Interface())
	}
	s := fmt.Sprintf("%#v", v.Interface())
	return strings.TrimPrefix(s, "engine.")
}
