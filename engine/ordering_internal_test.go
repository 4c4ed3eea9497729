package engine

import (
	"testing"

	"github.com/switchyard/switchyard/sdk"
)

func TestOrderingKey(t *testing.T) {
	ev := &Event{Entity: Entity{Type: "client", ID: "42"}}
	noEntity := &Event{Entity: Entity{Type: "client"}}
	for _, tt := range []struct {
		ordering Ordering
		ev       *Event
		want     string
	}{
		{OrderingNone, ev, ""},
		{"", ev, ""},
		{OrderingEntity, ev, "client:42"},
		{OrderingEntity, noEntity, ""},
		{OrderingSubscription, ev, "*"},
		{OrderingSubscription, noEntity, "*"},
	} {
		if got := orderingKey(&Subscription{Ordering: tt.ordering}, tt.ev); got != tt.want {
			t.Errorf("ordering %q, entity %+v: key %q; want %q", tt.ordering, tt.ev.Entity, got, tt.want)
		}
	}
}

// The host sets the sequence header whatever the plugin sent, and changes nothing for an unordered
// delivery or in the plugin's own headers.
func TestWithSequence(t *testing.T) {
	hs := []sdk.Header{{Name: "webhook-id", Value: "dlv_1"}, {Name: "switchyard-sequence", Value: "999"}}
	if got := withSequence(hs, &Delivery{}); len(got) != 2 || got[1].Value != "999" {
		t.Errorf("unordered: %v; want the headers as they were", got)
	}
	got := withSequence(hs, &Delivery{Sequence: 7, OrderingKey: "client:42"})
	if len(got) != 2 || got[0].Name != "webhook-id" || got[1].Name != SequenceHeader || got[1].Value != "7" {
		t.Errorf("ordered: %v; want webhook-id and %s: 7 alone", got, SequenceHeader)
	}
	if hs[1].Value != "999" || len(hs) != 2 {
		t.Errorf("the plugin's headers were changed: %v", hs)
	}
}

func TestValidateOrdering(t *testing.T) {
	s := &Subscription{}
	if err := validateOrdering(s); err != nil || s.Ordering != OrderingNone || s.OnDead != OnDeadContinue {
		t.Errorf("defaults: %v, %q, %q", err, s.Ordering, s.OnDead)
	}
	for _, s := range []*Subscription{{Ordering: "Entity"}, {OnDead: "skip"}} {
		if err := validateOrdering(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
