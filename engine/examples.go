package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/sdk"
)

// ExampleSource is the source type of the events SendExample makes, so that whoever reads the
// account's events tells them from the platform's own.
const ExampleSource = "example"

// SendExample delivers a sample event of eventType to one subscription through the real path:
// stored, shaped by the subscription's plugin, signed, sent and recorded as any event is. It is
// for an integrator checking its receiver, so it reaches that subscription only, and the caller
// needs no right to publish: the event goes into the subscription's account with source
// "example", entity {"type": <the object>, "id": "example"} (the subscription's entity_key when
// it has one), and is never routed to another subscription, now or by a replay (which resends
// only what a subscription carried).
func (e *Engine) SendExample(ctx context.Context, p *Principal, subscriptionID, eventType string) (*Delivery, error) {
	sub, err := e.GetSubscription(ctx, p, subscriptionID)
	if err != nil {
		return nil, err
	}
	if _, err := e.reach(ctx, p, sub.AccountID); err != nil {
		return nil, err
	}
	if eventType == "" {
		return nil, invalidf("type", "is required: an event type the subscription listens for, such as client.create")
	}
	if len(eventType) > maxEventTypeLen || !sdk.IsEventType(eventType) {
		return nil, invalidf("type", "%q is not an event type: object.action in lowercase, such as client.create", eventType)
	}
	if sub.State != SubscriptionActive {
		return nil, Conflictf("subscription %s is %s: an example goes only to an active one", sub.ID, sub.State)
	}
	now := e.now()
	object, _, _ := strings.Cut(eventType, ".")
	entityID := "example"
	if sub.EntityKey != "" {
		entityID = sub.EntityKey
	}
	data, err := json.Marshal(map[string]any{"id": entityID, "example": true, "name": "An example " + object})
	if err != nil {
		return nil, fmt.Errorf("example data: %w", err)
	}
	ev := &Event{
		ID: NewID("evt"), AccountID: sub.AccountID, Type: eventType, Entity: Entity{Type: object, ID: entityID},
		Data: data, Source: &EventSource{Type: ExampleSource}, OccurredAt: now, CreatedAt: now,
	}
	if !e.router.wants(sub, ev) {
		return nil, invalidf("type", "subscription %s does not take %s events: it listens for %s in the %s format", sub.ID, eventType, strings.Join(sub.Events, ", "), sub.Format)
	}
	var made *Delivery
	// The store hands the account's subscriptions that could want the event; only this one gets it.
	route := func(ev *Event, subs []*Subscription) []*Delivery {
		for _, s := range subs {
			if s.ID == sub.ID {
				if ds := e.router.route(ev, []*Subscription{s}); len(ds) == 1 {
					made = ds[0]
					return ds
				}
			}
		}
		return nil
	}
	if _, err := e.store.Ingest(ctx, IngestParams{Events: []*Event{ev}, Route: route}); err != nil {
		return nil, fmt.Errorf("send an example to %s: %w", sub.ID, err)
	}
	if made == nil {
		// Changed between the read and the transaction (disabled, deleted): the event is stored,
		// and nothing is sent.
		return nil, Conflictf("subscription %s changed while the example was made: nothing was sent", sub.ID)
	}
	e.dispatcher.notify()
	return made, nil
}
