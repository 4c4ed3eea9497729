package engine

import (
	"context"
	"errors"
	"fmt"
)

// DeliveryQuery selects the caller's deliveries, newest first.
type DeliveryQuery struct {
	// AppID filters by app; only the operator may name another app.
	AppID          string
	SubscriptionID string
	EventID        string
	State          DeliveryState
	// Before is the cursor: the ID of the last delivery of the previous page.
	Before string
	Limit  int
}

// ListDeliveries lists the caller's deliveries; the operator's, every app's.
func (e *Engine) ListDeliveries(ctx context.Context, p *Principal, q DeliveryQuery) ([]*Delivery, error) {
	switch q.State {
	case "", DeliveryPending, DeliveryInFlight, DeliverySucceeded, DeliveryFailed, DeliveryDead:
	default:
		return nil, invalidf("status", "%q is not one of pending, in_flight, succeeded, failed, dead", q.State)
	}
	page := normalizePage(Page{Limit: q.Limit})
	f := DeliveryFilter{SubscriptionID: q.SubscriptionID, EventID: q.EventID, State: q.State, Before: q.Before, Limit: page.Limit, AccountID: p.boundAccount()}
	if p.Admin {
		f.AppID = q.AppID
	} else {
		f.AppID = p.App.ID
		// A credential of the whole app sees what the accounts that granted the app have sent it.
		f.Granted = f.AccountID == ""
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

// RetryDelivery makes a failed or dead delivery due again now.
func (e *Engine) RetryDelivery(ctx context.Context, p *Principal, id string) (*Delivery, error) {
	if _, _, err := e.GetDelivery(ctx, p, id); err != nil {
		return nil, err
	}
	d, err := e.store.RetryDelivery(ctx, id, e.now())
	if err != nil {
		return nil, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	e.dispatcher.notify()
	return d, nil
}

// SkipDelivery ends a pending or dead delivery without sending it (it becomes failed), so that
// the deliveries behind it in its ordered queue go on: what an operator does when a receiver will
// never take one update, and its subscription's on_dead is block.
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
