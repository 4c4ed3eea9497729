package engine

import (
	"time"

	"github.com/switchyard/switchyard/sdk"
)

// router decides which subscriptions an event is delivered to. It runs inside the ingest
// transaction, over the account's active subscriptions the store hands it.
type router struct {
	plugins *Plugins
	now     func() time.Time
}

// route returns one pending delivery per subscription that wants ev: active, listening for its
// type, limited to its entity if the subscription names one, and in a format whose plugin accepts
// the type. Deliveries are due at the event's deliver_at, or now.
func (r *router) route(ev *Event, subs []*Subscription) []*Delivery {
	var out []*Delivery
	due := r.now()
	if ev.DeliverAt != nil && ev.DeliverAt.After(due) {
		due = *ev.DeliverAt
	}
	for _, s := range subs {
		if !r.wants(s, ev) {
			continue
		}
		out = append(out, &Delivery{
			ID: NewID("dlv"), EventID: ev.ID, SubscriptionID: s.ID, AppID: s.AppID,
			Kind: DeliveryEvent, State: DeliveryPending, NextAttemptAt: due,
			CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt, OrderingKey: orderingKey(s, ev),
		})
	}
	return out
}

func (r *router) wants(s *Subscription, ev *Event) bool {
	if s.State != SubscriptionActive || s.AccountID != ev.AccountID {
		return false
	}
	if s.EntityKey != "" && s.EntityKey != ev.Entity.ID {
		return false
	}
	matched := false
	for _, p := range s.Events {
		if sdk.MatchType(p, ev.Type) {
			matched = true
			break
		}
	}
	if !matched {
		return false
	}
	// A subscription's patterns were checked against its plugin when it was made; the plugin may
	// since have been replaced by a version that accepts less.
	if p, ok := r.plugins.Get(s.Format); ok {
		m := p.Manifest()
		return accepts(&m, ev.Type)
	}
	// A plugin that is not loaded now may be loaded again; keep the delivery so nothing is lost,
	// and let the dispatcher retry it.
	return true
}
