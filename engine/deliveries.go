package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DeliveryQuery selects the caller's deliveries, newest first.
type DeliveryQuery struct {
	// AppID filters by app; only the operator may name another app.
	AppID          string
	SubscriptionID string
	EventID        string
	State          DeliveryState
	// AccountID keeps the deliveries of subscriptions to one account; a credential bound to
	// another account may not name it.
	AccountID string
	// EventType keeps the deliveries of events of one type (client.create).
	EventType string
	// Since (inclusive) and Until (exclusive) bound when the deliveries were made.
	Since, Until *time.Time
	// Before is the cursor: the ID of the last delivery of the previous page.
	Before string
	Limit  int
}

// ListDeliveries lists the caller's deliveries; the operator's, every app's.
func (e *Engine) ListDeliveries(ctx context.Context, p *Principal, q DeliveryQuery) ([]*Delivery, error) {
	switch q.State {
	case "", DeliveryPending, DeliveryInFlight, DeliverySucceeded, DeliveryFailed, DeliveryDead, DeliverySkipped:
	default:
		return nil, invalidf("status", "%q is not one of pending, in_flight, succeeded, failed, dead, skipped", q.State)
	}
	page := normalizePage(Page{Limit: q.Limit})
	// A credential of the whole app sees what the accounts that granted the app have sent it.
	f := e.deliveryScope(p, q.AppID)
	f.SubscriptionID, f.EventID, f.State, f.Before, f.Limit = q.SubscriptionID, q.EventID, q.State, q.Before, page.Limit
	f.EventType = q.EventType
	if q.AccountID != "" {
		// The filter narrows the caller's scope, never widens it: a bound credential keeps its
		// account, and an app its grants.
		if f.AccountID != "" && f.AccountID != q.AccountID {
			return nil, fmt.Errorf("this credential was granted by account %s only: %w", f.AccountID, ErrForbidden)
		}
		f.AccountID = q.AccountID
	}
	if q.Since != nil {
		f.Since = *q.Since
	}
	if q.Until != nil {
		f.Until = *q.Until
	}
	return e.store.ListDeliveries(ctx, f)
}

// GetDelivery returns one of the caller's deliveries with its attempts.
func (e *Engine) GetDelivery(ctx context.Context, p *Principal, id string) (*Delivery, []*Attempt, error) {
	d, err := e.store.GetDelivery(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !p.ownsApp(d.AppID) {
		return nil, nil, notFound("delivery", id)
	}
	// A delivery's account is its subscription's, which must be one the credential reaches.
	if !p.Admin {
		s, err := e.store.GetSubscription(ctx, d.SubscriptionID)
		if errors.Is(err, ErrNotFound) || (err == nil && !p.owns(s.AppID, s.AccountID)) {
			return nil, nil, notFound("delivery", id)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("delivery's subscription: %w", err)
		}
		if _, err := e.reach(ctx, p, s.AccountID); errors.Is(err, ErrForbidden) {
			return nil, nil, notFound("delivery", id)
		} else if err != nil {
			return nil, nil, err
		}
	}
	attempts, err := e.store.ListAttempts(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("list attempts: %w", err)
	}
	return d, attempts, nil
}

// RetryDelivery makes one of the caller's deliveries due now: a failed, dead or skipped one pending again
// (keeping its attempts), a pending one due now rather than at its scheduled retry. It reports
// whether the delivery was pending already. One being sent or sent is a conflict.
func (e *Engine) RetryDelivery(ctx context.Context, p *Principal, id string) (*Delivery, bool, error) {
	before, _, err := e.GetDelivery(ctx, p, id)
	if err != nil {
		return nil, false, err
	}
	// The store says what is wrong in one sentence (a ConflictError) and names the delivery.
	d, err := e.store.RetryDelivery(ctx, id, e.now())
	if err != nil {
		return nil, false, err
	}
	e.dispatcher.notify()
	return d, before.State == DeliveryPending, nil
}

// MaxBulkRetry is the most deliveries one bulk retry makes due; a caller with more repeats the
// call until it answers fewer. The bound keeps one call's write transaction short, so that it
// holds up neither publishing nor dispatch.
const MaxBulkRetry = 1000

// BulkRetry is what RetryDeliveries retries: the caller's deliveries matching every given field.
type BulkRetry struct {
	SubscriptionID string `json:"subscription_id"`
	// Status is failed, dead, pending or skipped; empty means failed and dead: a skipped delivery
	// was held back on purpose, so only a caller who names it sends it again.
	Status DeliveryState `json:"status"`
	// Since and Until bound when the deliveries were created: Since inclusive, Until exclusive.
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// RetryDeliveries makes up to MaxBulkRetry of the caller's deliveries matching q due now, oldest
// first, and returns how many. Pending deliveries already due are not counted, so that repeating
// the call until it answers fewer than MaxBulkRetry ends.
func (e *Engine) RetryDeliveries(ctx context.Context, p *Principal, q BulkRetry) (int, error) {
	var states []DeliveryState
	switch q.Status {
	case "":
		states = []DeliveryState{DeliveryFailed, DeliveryDead}
	case DeliveryFailed, DeliveryDead, DeliveryPending, DeliverySkipped:
		states = []DeliveryState{q.Status}
	default:
		return 0, invalidf("status", "%q is not one of failed, dead, pending, skipped (leave it out for failed and dead)", q.Status)
	}
	if q.Since != nil && q.Until != nil && !q.Until.After(*q.Since) {
		return 0, invalidf("until", "must be after since")
	}
	f := e.deliveryScope(p, "")
	params := RetryDeliveriesParams{
		Scope: f, SubscriptionID: q.SubscriptionID, States: states, Now: e.now(), Limit: MaxBulkRetry,
	}
	if q.Since != nil {
		params.Since = q.Since.UTC()
	}
	if q.Until != nil {
		params.Until = q.Until.UTC()
	}
	n, err := e.store.RetryDeliveries(ctx, params)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		e.dispatcher.notify()
	}
	return n, nil
}

// deliveryScope is the part of a DeliveryFilter that keeps a principal to its own deliveries: the
// operator's, every app's (or the app asked for); an app's, its own, in the account its credential
// is bound to or, for a credential of the whole app, in the accounts that granted it.
func (e *Engine) deliveryScope(p *Principal, appID string) DeliveryFilter {
	f := DeliveryFilter{AccountID: p.boundAccount()}
	if p.Admin {
		f.AppID = appID
	} else {
		f.AppID = p.App.ID
		f.Granted = f.AccountID == ""
	}
	return f
}

// SkipDelivery ends a pending or dead delivery without sending it (it becomes skipped, as one a
// style's rule holds back does), so that the deliveries behind it in its ordered queue go on: what
// an operator does when a receiver will never take one update, and its subscription's on_dead is
// block.
func (e *Engine) SkipDelivery(ctx context.Context, p *Principal, id string) (*Delivery, error) {
	if _, _, err := e.GetDelivery(ctx, p, id); err != nil {
		return nil, err
	}
	d, err := e.store.SkipDelivery(ctx, id, "skipped through the API", e.now())
	if err != nil {
		return nil, fmt.Errorf("skip delivery %s: %w", id, err)
	}
	e.dispatcher.notify()
	return d, nil
}
