package engine

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// manifestOnly is a Plugin that has a manifest and nothing else: routing reads no more.
type manifestOnly struct{ m sdk.Manifest }

func (p manifestOnly) Manifest() sdk.Manifest { return p.m }
func (p manifestOnly) Version() string        { return p.m.Name + "@test" }
func (p manifestOnly) Has(string) bool        { return false }
func (p manifestOnly) Shape(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Request, error) {
	return nil, nil
}
func (p manifestOnly) OnSubscribe(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Request, error) {
	return nil, nil
}
func (p manifestOnly) OnResponse(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Verdict, error) {
	return nil, nil
}

// TestRoutingByEntity: a subscription that names an entity gets that entity's events only; one
// that names none gets every entity's; the other conditions (state, account, type, plugin) still
// hold for both.
func TestRoutingByEntity(t *testing.T) {
	t.Parallel()
	plugins := NewPlugins()
	plugins.Put(manifestOnly{sdk.Manifest{Name: "docs", Events: []sdk.EventType{{Type: "document.update"}, {Type: "document.finalize"}}}})
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r := &router{plugins: plugins, now: func() time.Time { return now }}
	sub := func(id, entity string, edit ...func(*Subscription)) *Subscription {
		s := &Subscription{ID: id, AppID: "app", AccountID: "acc", Format: "docs", Events: []string{"document.*"},
			EntityKey: entity, State: SubscriptionActive}
		for _, e := range edit {
			e(s)
		}
		return s
	}
	subs := []*Subscription{
		sub("all", ""),
		sub("doc-a", "A"),
		sub("doc-a-finalize", "A", func(s *Subscription) { s.Events = []string{"document.finalize"} }),
		sub("doc-b", "B"),
		sub("doc-a-disabled", "A", func(s *Subscription) { s.State = SubscriptionDisabled }),
		sub("doc-a-pending", "A", func(s *Subscription) { s.State = SubscriptionPending }),
		sub("doc-a-other-account", "A", func(s *Subscription) { s.AccountID = "other" }),
		// The same key on another object's events: the type filter keeps them apart.
		sub("client-a", "A", func(s *Subscription) { s.Events = []string{"client.*"} }),
	}
	tests := []struct {
		name   string
		typ    string
		entity string
		want   []string
	}{
		{"document A updated", "document.update", "A", []string{"all", "doc-a"}},
		{"document A finalized", "document.finalize", "A", []string{"all", "doc-a", "doc-a-finalize"}},
		{"document B updated", "document.update", "B", []string{"all", "doc-b"}},
		{"a document nobody names", "document.update", "C", []string{"all"}},
		{"keys are exact", "document.update", "a", []string{"all"}},
		{"a type the plugin does not take", "document.delete", "A", nil},
	}
	for _, tt := range tests {
		ev := &Event{ID: "evt", AccountID: "acc", Type: tt.typ, Entity: Entity{Type: "document", ID: tt.entity}, CreatedAt: now}
		var got []string
		for _, d := range r.route(ev, subs) {
			got = append(got, d.SubscriptionID)
			if d.EventID != ev.ID || d.State != DeliveryPending || !d.NextAttemptAt.Equal(now) || d.Kind != DeliveryEvent {
				t.Errorf("%s: delivery %+v", tt.name, d)
			}
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: routed to %v; want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: routed to %v; want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}
