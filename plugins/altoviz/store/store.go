// Package store is what the Altoviz style keeps of its own, as an interface the style owns and
// each store driver implements (plugins/altoviz/store/sqlite on the node's SQLite database). It
// knows nothing of HTTP, so that a driver links no web framework.
package store

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Webhook is an Altoviz webhook: the integer id and the name Altoviz's API gives a webhook, kept
// beside the engine subscription that does the delivering. Deleting the subscription (through this
// API or the native one) deletes the webhook with it.
type Webhook struct {
	ID             int64
	SubscriptionID string
	// AppID and AccountID are the owner, copied from the subscription (which never changes them) so
	// that an owner's webhooks are found without reading subscriptions.
	AppID     string
	AccountID string
	Name      string
	CreatedAt time.Time
}

// Store keeps the style's webhooks beside the engine's store, which owns their subscriptions.
type Store interface {
	// CreateWebhook stores p.Webhook and sets its ID. IDs are never reused, so a client that
	// holds the id of a removed webhook cannot remove another by mistake. In the same transaction it
	// refuses, with ErrURLTaken, a webhook whose owner already has one whose subscription has p.URL,
	// and, with ErrTooMany, one whose owner already has p.Max webhooks.
	CreateWebhook(ctx context.Context, p CreateWebhookParams) error
	// ListWebhooks returns an owner's webhooks by ID.
	ListWebhooks(ctx context.Context, appID, accountID string) ([]*Webhook, error)
	// FindWebhook returns the owner's webhook with q.ID and/or whose subscription has q.URL
	// (the zero value matches anything), or an error wrapping engine.ErrNotFound.
	FindWebhook(ctx context.Context, q WebhookQuery) (*Webhook, error)
	// WebhookOf returns the webhook over subscription s, creating it (with an empty name and s's
	// owner and creation time) when s has none: a subscription in the altoviz format made through
	// the native API, or before this style gave every one a webhook. It is the id a call carries,
	// so it must be the same every time for one subscription. No limit applies: the subscription
	// exists already. A subscription that no longer exists is an error wrapping engine.ErrNotFound.
	WebhookOf(ctx context.Context, s *engine.Subscription) (*Webhook, error)
}

// CreateWebhookParams are the arguments of Store.CreateWebhook.
type CreateWebhookParams struct {
	Webhook *Webhook
	// URL is the subscription's URL, which must be the only one of its kind among the owner's webhooks.
	URL string
	// Max is the most webhooks an owner may have; zero means no limit.
	Max int
}

// WebhookQuery selects one of an owner's webhooks.
type WebhookQuery struct {
	AppID     string
	AccountID string
	ID        int64
	URL       string
}

var (
	// ErrURLTaken means the owner already has a webhook for that URL. It wraps engine.ErrConflict.
	ErrURLTaken = fmt.Errorf("a webhook for this url already exists: %w", engine.ErrConflict)
	// ErrTooMany means the owner has as many webhooks as allowed. It wraps engine.ErrConflict.
	ErrTooMany = fmt.Errorf("too many webhooks: %w", engine.ErrConflict)
)
