// Package store is what the Upsales style keeps beside the engine's data: the log entry of each app
// request with its one-time callback, the app data callbacks save, the notifications they send and
// the users each account's events named. It is the style's contract with a database, so it knows
// no HTTP and no driver: plugins/upsales/store/sqlite implements it, and storetest is the suite
// every implementation must pass.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Store is the persistence the Upsales style needs beside the engine's. Implementations run each
// method as one transaction and return engine.ErrNotFound (wrapped) for missing rows.
type Store interface {
	// PrepareRequest records the log entry of a delivery's request the first time the delivery is
	// prepared (p.Entry, with its callback token's hash), and on every later attempt reopens its callback
	// until p.ExpiresAt unless it has been used. It remembers p.User as one of the account's
	// users, and returns the stored entry with the app data to send.
	PrepareRequest(ctx context.Context, p PrepareParams) (*Prepared, error)
	// ApplyCallback spends a request's callback and applies the callback object, atomically: of a
	// synchronous answer and a post to the callback URL for the same request, exactly one
	// applies. App data is merged into what is saved by MergePatch, as Upsales does, whatever the
	// driver, up to MaxAppDataBytes (ErrAppDataTooLarge). A used callback gives ErrCallbackUsed, an expired one ErrCallbackExpired (a
	// synchronous answer ignores expiry: the app answered the request in time), an unknown request
	// engine.ErrNotFound; then nothing changes.
	ApplyCallback(ctx context.Context, p ApplyParams) (*Applied, error)
	// RefuseCallback records on the log entry of a delivery's request why a callback did not apply
	// (LogEntry.CallbackError), leaving its callback as it was, and returns the entry.
	RefuseCallback(ctx context.Context, deliveryID, reason string, now time.Time) (*LogEntry, error)

	GetLogEntry(ctx context.Context, id string) (*LogEntry, error)
	// ListLogEntries returns entries matching f, newest first (ID descending), before f.Before.
	ListLogEntries(ctx context.Context, f LogFilter) ([]*LogEntry, error)
	// GetAppData returns what is saved for an app and account (userID "") or for one of the
	// account's users, or nil.
	GetAppData(ctx context.Context, appID, accountID, userID string) (json.RawMessage, error)

	GetNotification(ctx context.Context, id string) (*Notification, error)
	// ListNotifications returns notifications matching f, newest first, before f.Before.
	ListNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, error)
	// MarkNotificationOpened records when a notification was first opened.
	MarkNotificationOpened(ctx context.Context, id string, at time.Time) error

	// ExpireCallbacks closes open callbacks whose time ran out by now, and returns how many.
	ExpireCallbacks(ctx context.Context, now time.Time) (int64, error)
	// PurgeLogEntries deletes log entries of requests made before the given time.
	PurgeLogEntries(ctx context.Context, before time.Time) (int64, error)
	// PurgeNotifications deletes notifications created before the given time.
	PurgeNotifications(ctx context.Context, before time.Time) (int64, error)
}

// MaxAppDataBytes caps what is saved for an app and account, and for each of its users, after a
// callback's patch is merged in: every later request to the app carries it, so without a cap each
// callback under its own 100 kb could grow it, and every request after, without end. A callback
// that would pass it is refused whole (ErrAppDataTooLarge) and changes nothing.
const MaxAppDataBytes = 100 << 10

// ErrAppDataTooLarge is the error, with an *engine.ValidationError (422) naming the property, of a
// callback whose appData or userAppData would make the saved data larger than MaxAppDataBytes.
var ErrAppDataTooLarge = errors.New("the saved app data would be over its limit")

// Conditions the callback endpoint reports as 410 Gone.
var (
	ErrCallbackUsed    = errors.New("this callbackUrl has been used")
	ErrCallbackExpired = errors.New("this callbackUrl has expired")
)

// CallbackState is where a request's callback is.
type CallbackState string

const (
	// CallbackOpen: the app may still answer with a callback or post one to the URL.
	CallbackOpen CallbackState = "open"
	// CallbackSync: the app's answer carried the callback.
	CallbackSync CallbackState = "sync"
	// CallbackDeferred: the app posted the callback to the URL.
	CallbackDeferred CallbackState = "deferred"
	// CallbackExpired: the URL's time ran out unused.
	CallbackExpired CallbackState = "expired"
)

// LogEntry is the log entry of one app request (one delivery, across its attempts): what a callback
// writes its status and message to, and what the notification modal shows the app.
type LogEntry struct {
	ID             string `json:"id"`
	AppID          string `json:"app_id"`
	AccountID      string `json:"account_id"`
	SubscriptionID string `json:"subscription_id"`
	DeliveryID     string `json:"delivery_id"`
	EventID        string `json:"event_id,omitempty"`
	EventType      string `json:"event_type"`
	// Trigger is the request's Upsales name, from the plugin's manifest ("clientinsert").
	Trigger  string `json:"trigger"`
	EntityID string `json:"entity_id"`
	// UserID is the user who started the run: the user the event names.
	UserID string `json:"user_id,omitempty"`
	// Status and Message are set by the app's callback; Status is null until one arrives.
	Status  *float64 `json:"status"`
	Message string   `json:"message,omitempty"`
	// CallbackError says why the last callback that did not apply was refused: 100 kb or more, not
	// an object, or the callback already spent.
	CallbackError     string        `json:"callback_error,omitempty"`
	Callback          CallbackState `json:"callback"`
	CallbackExpiresAt time.Time     `json:"callback_expires_at"`
	CallbackAt        *time.Time    `json:"callback_at,omitempty"`
	// CreatedAt is when the request was first made; the entry lives 90 days from then.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// TokenHash is engine.HashToken of the token in the callback URL. The token itself is never
	// stored: the style derives it from the entry's ID whenever a request carries the URL.
	TokenHash string `json:"-"`
	// BaseURL is the subscription URL the request went to; the app's widgets are below it.
	BaseURL string `json:"-"`
	// UserConfigurable says whether the app was user-configurable when the request was made.
	UserConfigurable bool `json:"-"`
}

// Notification is an in-app notification an app's callback sent to one user of an account.
type Notification struct {
	ID        string `json:"id"`
	AppID     string `json:"app_id"`
	AccountID string `json:"account_id"`
	UserID    string `json:"user_id"`
	// LogID is the log entry of the request the callback answered: the modal's data.
	LogID     string     `json:"log_id"`
	Message   string     `json:"message"`
	CreatedAt time.Time  `json:"created_at"`
	OpenedAt  *time.Time `json:"opened_at,omitempty"`
}

// PrepareParams are the arguments of Store.PrepareRequest.
type PrepareParams struct {
	// Entry is recorded if the delivery (Entry.DeliveryID) has no entry yet.
	Entry *LogEntry
	// ExpiresAt is when the callback closes if unused; every attempt moves it.
	ExpiresAt time.Time
	// User, when the event names one, is remembered as a user of the account (for notifyAll).
	User *engine.User
	Now  time.Time
}

// Prepared is a request's stored log entry and the app data to send with it.
type Prepared struct {
	Entry   *LogEntry
	AppData json.RawMessage
	// UserAppData is loaded for user-configurable apps when the request names a user.
	UserAppData json.RawMessage
}

// Callback is an app callback object, checked.
type Callback struct {
	// Status is 1 unless the app says otherwise.
	Status float64
	// Message, when set, replaces the log entry's message.
	Message     *string
	AppData     json.RawMessage
	UserAppData json.RawMessage
	// Notify is the notification's text; empty sends none.
	Notify        string
	NotifyUserIDs []string
	NotifyAll     bool
}

// ApplyParams are the arguments of Store.ApplyCallback. Exactly one of TokenHash, LogID and
// DeliveryID is set.
type ApplyParams struct {
	// TokenHash identifies the request by the hash of its callback URL's token: a post to a URL
	// whose token an older version made at random.
	TokenHash string
	// LogID identifies the request by its log entry: a post to a URL whose token the style
	// derived from the entry's ID and has checked.
	LogID string
	// DeliveryID identifies the request by its delivery: the app's synchronous answer.
	DeliveryID string
	Callback   *Callback
	Now        time.Time
	// NewID makes notification IDs.
	NewID func() string
}

// Applied is what a callback did.
type Applied struct {
	Entry         *LogEntry
	Notifications []*Notification
	// Ignored names the callback's properties that did not apply ("userAppData" for an app that is
	// not user-configurable, or a request without a user).
	Ignored []string
}

// LogFilter selects log entries; zero fields match everything.
type LogFilter struct {
	AppID     string
	AccountID string
	// Before is a cursor: only entries with smaller IDs.
	Before string
	Limit  int
}

// NotificationFilter selects notifications; zero fields match everything.
type NotificationFilter struct {
	AppID     string
	AccountID string
	UserID    string
	Before    string
	Limit     int
}
