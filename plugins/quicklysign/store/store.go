// Package store is what the QuicklySign style keeps beside the engine: the interface to the
// callback log its API serves, and that log's types. Drivers implement it (store/sqlite here);
// storetest is the suite each must pass.
package store

import (
	"context"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Store is what the QuicklySign style reads beside the engine's store: the callback log, a page of
// a subscription's deliveries with their events and attempts in one go. The engine's store can
// give the same only with a query per delivery (ListDeliveries, then ListAttempts for each).
type Store interface {
	// ListCallbacks returns up to q.Limit deliveries of the subscription, newest first (ID
	// descending), before the ID q.Before when it is set, each with its attempts, newest first.
	ListCallbacks(ctx context.Context, q CallbackQuery) ([]*Callback, error)
	// DeletedSubscription returns a deleted QuicklySign subscription whose callback log is kept,
	// or engine.ErrNotFound. A subscription's log is kept as it is deleted, however it is deleted.
	DeletedSubscription(ctx context.Context, id string) (*DeletedSubscription, error)
	// PurgeDeleted removes from the kept logs the attempts started before before, then the
	// deliveries created before it that have none left, then the subscriptions deleted before it
	// that have no deliveries left. It returns how many rows it removed.
	PurgeDeleted(ctx context.Context, before time.Time) (int64, error)
}

// DeletedSubscription is what is kept of a deleted subscription: enough to tell who may read its
// log, and through which API version.
type DeletedSubscription struct {
	ID, AppID, AccountID string
	// API is the QuicklySign API version it was made through: "v0" or "v1".
	API       string
	EntityKey string
	URL       string
	CreatedAt time.Time
	DeletedAt time.Time
}

// CancelledState is the state a kept log gives a delivery that was pending or in flight when its
// subscription was deleted: it will never be attempted.
const CancelledState engine.DeliveryState = "cancelled"

// CallbackQuery are the arguments of Store.ListCallbacks.
type CallbackQuery struct {
	SubscriptionID string
	// Deleted reads the kept log of a deleted subscription rather than the engine's deliveries.
	Deleted bool
	// Before is the cursor: only deliveries with smaller IDs.
	Before string
	Limit  int
	// ExcerptChars is how much of each response body to return, in characters; a longer body
	// is cut and ends with "…".
	ExcerptChars int
}

// Callback is one delivery in the callback log.
type Callback struct {
	Delivery *engine.Delivery
	// EventType and EntityID are the delivered event's (empty for a delivery without an event).
	EventType string
	EntityID  string
	// Attempts are newest first. Each has its number, start, duration, response status, outcome
	// and error, and in ResponseBody the excerpt; what was sent is left out.
	Attempts []*engine.Attempt
}
