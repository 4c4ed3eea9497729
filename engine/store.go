package engine

import (
	"context"
	"time"
)

// Store is the persistence the engine needs. Package store/sqlite implements it; a PostgreSQL
// driver can implement it beside that without touching the engine. Implementations return
// ErrNotFound (wrapped) for missing rows and ErrConflict for unique-key clashes, and run each method
// as one transaction.
type Store interface {
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, id string) (*Account, error)
	ListAccounts(ctx context.Context, p Page) ([]*Account, error)

	CreateApp(ctx context.Context, a *App) error
	GetApp(ctx context.Context, id string) (*App, error)
	ListApps(ctx context.Context, p Page) ([]*App, error)

	CreateCredential(ctx context.Context, c *Credential) error
	GetCredential(ctx context.Context, id string) (*Credential, error)
	GetCredentialByClientID(ctx context.Context, clientID string) (*Credential, error)
	// ListCredentials returns an app's credentials, revoked ones too, ordered by ID, after p.After.
	ListCredentials(ctx context.Context, appID string, p Page) ([]*Credential, error)
	// RevokeCredential marks the credential revoked and, when p.DeleteSubscriptions, deletes the
	// subscriptions it created (with their deliveries), in one transaction. It returns the IDs of
	// the deleted subscriptions.
	RevokeCredential(ctx context.Context, p RevokeCredentialParams) ([]string, error)

	// CreateGrant stores a grant; an unrevoked grant of the same app in the same account gives
	// ErrConflict.
	CreateGrant(ctx context.Context, g *Grant) error
	// GetGrant returns the unrevoked grant of appID in accountID, or ErrNotFound.
	GetGrant(ctx context.Context, appID, accountID string) (*Grant, error)
	// ListGrants returns an account's grants, revoked ones too, ordered by ID, after p.After.
	ListGrants(ctx context.Context, accountID string, p Page) ([]*Grant, error)
	// RevokeGrant marks the account's grant p.ID revoked and disables, with p.Reason, the app's
	// subscriptions in that account that no credential bound to the account made, in one
	// transaction. It returns the grant and the IDs of the subscriptions it disabled. A grant of
	// another account is ErrNotFound; one revoked before, ErrConflict.
	RevokeGrant(ctx context.Context, p RevokeGrantParams) (*Grant, []string, error)

	// PutAccountUser creates p.User, or replaces the permissions and UpdatedAt of the account's
	// user with its ID (keeping its CreatedAt, which it sets on p.User), and reports whether it
	// was created. A new user beyond p.Max users in the account is ErrConflict.
	PutAccountUser(ctx context.Context, p PutAccountUserParams) (created bool, err error)
	// GetAccountUser returns one user of an account, or ErrNotFound.
	GetAccountUser(ctx context.Context, accountID, userID string) (*AccountUser, error)
	// ListAccountUsers returns an account's users ordered by ID, after p.After.
	ListAccountUsers(ctx context.Context, accountID string, p Page) ([]*AccountUser, error)
	// DeleteAccountUser removes a user of an account, or says ErrNotFound.
	DeleteAccountUser(ctx context.Context, accountID, userID string) error

	// CreateSubscription stores a subscription and, when p.Handshake is set, its handshake
	// delivery, in one transaction. When p.GrantID is set, that grant must still be unrevoked in
	// the same transaction, or nothing is stored and the error is ErrForbidden.
	CreateSubscription(ctx context.Context, p CreateSubscriptionParams) error
	GetSubscription(ctx context.Context, id string) (*Subscription, error)
	// GetSubscriptionByConfirmTokenHash finds a subscription by its ConfirmTokenHash; "" finds none.
	GetSubscriptionByConfirmTokenHash(ctx context.Context, hash string) (*Subscription, error)
	// ListSubscriptions returns subscriptions matching f, ordered by ID ascending, after f.After.
	ListSubscriptions(ctx context.Context, f SubscriptionFilter) ([]*Subscription, error)
	// UpdateSubscription replaces every mutable field of the stored subscription with s's, if the
	// stored Version still equals s.Version, and then increments s.Version. A stored version that
	// moved on (another write came between the caller's read and this one) gives ErrConflict. Every
	// other write to a subscription (health, disabling) also moves its version.
	UpdateSubscription(ctx context.Context, s *Subscription) error
	// DeleteSubscription deletes a subscription with its deliveries and their attempts.
	DeleteSubscription(ctx context.Context, id string) error

	// Ingest stores events, and for each one the deliveries p.Route picks from the active
	// subscriptions of its account that could want it (see IngestParams.Route), in one transaction. An event whose (account, idempotency
	// key) is already stored, by an earlier call or earlier in the same call, is not stored again:
	// its result carries the first event's ID and Duplicate. A delivery with an OrderingKey gets
	// the next Sequence of its (subscription, key) queue, in the order of p.Events, above every
	// number that queue gave before (by any call, on any node).
	Ingest(ctx context.Context, p IngestParams) ([]IngestResult, error)
	GetEvent(ctx context.Context, id string) (*Event, error)
	// ListEvents returns events matching f, newest first (ID descending), before f.Before.
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)

	// ClaimDue leases up to p.Limit pending deliveries due at p.Now, of subscriptions not paused
	// (Subscription.PausedAt): each becomes in_flight until
	// p.LeaseUntil. It returns them with what shaping needs. It takes turns: at most
	// p.PerSubscription of one subscription (0: no limit), each subscription's oldest due first,
	// and every account's n-th turn before any account's n+1-th, oldest due first within a turn.
	// Of an ordered queue (deliveries with the same subscription and OrderingKey) it takes only
	// the head: never a delivery while one with a smaller Sequence in its queue is pending or
	// in flight, or dead when the subscription's OnDead is block. Claims running at once (on any
	// node) keep that too.
	ClaimDue(ctx context.Context, p ClaimParams) ([]*Work, error)
	// Complete records finished attempts in one transaction. For each outcome it inserts the
	// attempt, numbering it after the delivery's stored attempts (and setting Attempt.Number),
	// counts it on the delivery, and moves the delivery to its next state and updates the
	// subscription's health (not for a skipped outcome), unless the delivery has meanwhile
	// succeeded, failed, died or been skipped (a late outcome, which changes neither). An outcome for a delivery that no longer exists is skipped.
	Complete(ctx context.Context, outcomes []*Outcome) error
	// NextDue returns when the earliest pending delivery of a subscription not paused is due, and
	// false when none is pending.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// CountDeliveries counts the deliveries waiting or being sent at now, for metrics: it must be
	// cheap, as it runs on every scrape.
	CountDeliveries(ctx context.Context, now time.Time) (DeliveryCounts, error)
	// RecoverLeases makes in_flight deliveries whose lease ended before p.ExpiredBefore (and, when
	// p.Owner is set, that p.Owner holds) pending and due at p.DueAt, and returns how many.
	RecoverLeases(ctx context.Context, p RecoverLeasesParams) (int, error)
	// ReleaseLeases makes the given in_flight deliveries pending and due at at, without counting
	// an attempt: for work a stopping dispatcher did not finish, or that must wait its turn.
	ReleaseLeases(ctx context.Context, ids []string, at time.Time) error
	// ExtendLeases moves the leases of the given in_flight deliveries on to until, where they end
	// sooner: for attempts still running, so that no lease ends under them. Other deliveries are
	// left alone.
	ExtendLeases(ctx context.Context, ids []string, until time.Time) error

	GetDelivery(ctx context.Context, id string) (*Delivery, error)
	// ListDeliveries returns deliveries matching f, newest first (ID descending), before f.Before.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	// ListAttempts returns a delivery's attempts, first first.
	ListAttempts(ctx context.Context, deliveryID string) ([]*Attempt, error)
	// RetryDelivery makes a failed, dead or skipped delivery pending and due at now, keeping its attempts,
	// and a pending one due at now unless it is due sooner; in_flight and succeeded give a
	// *ConflictError that names the delivery and its state.
	RetryDelivery(ctx context.Context, id string, now time.Time) (*Delivery, error)
	// RetryDeliveries does what RetryDelivery does to up to p.Limit deliveries matching p, oldest
	// (smallest ID) first, in one transaction, and returns how many it changed. A pending delivery
	// already due at p.Now is left alone and not counted.
	RetryDeliveries(ctx context.Context, p RetryDeliveriesParams) (int, error)
	// ReplaySubscription creates a new pending delivery, due at p.Now, for every event a delivery
	// of the subscription carried whose event occurred at or after p.Since. It returns how many.
	// The events go in the order they were first accepted for the subscription (their first
	// delivery's Sequence, else when they were stored), and each new delivery whose p.OrderingKey
	// is set takes the next Sequence of its queue, in that order.
	ReplaySubscription(ctx context.Context, p ReplayParams) (int, error)
	// SkipDelivery ends a pending or dead delivery without sending it: it becomes skipped, with
	// reason as its last error, which releases the deliveries of its ordered queue behind it.
	// Other states give ErrConflict.
	SkipDelivery(ctx context.Context, id, reason string, now time.Time) (*Delivery, error)
	// HeldDeliveries counts a subscription's pending deliveries that wait behind an earlier one
	// of their ordered queue, and returns up to limit of the heads they wait behind, those holding
	// the most first.
	HeldDeliveries(ctx context.Context, subscriptionID string, limit int) (*Held, error)

	// PurgeAttempts deletes attempts that started before the given time, and returns how many.
	PurgeAttempts(ctx context.Context, before time.Time) (int64, error)

	// CreatePortal stores a portal link or session, dropping the app's oldest beyond p.Max (see
	// CreatePortalParams), in one transaction. An app that does not exist is ErrInvalid.
	CreatePortal(ctx context.Context, p CreatePortalParams) error
	// ExchangePortalLink trades link p.LinkID for p.Session, in one transaction: it reads the link
	// (ErrNotFound when there is none, or it is a session), passes it to p.Check, marks it used
	// and stores the session. A link already used is ErrConflict; of exchanges of one link running
	// at once, on any node, exactly one succeeds. It returns the link as it was read.
	ExchangePortalLink(ctx context.Context, p ExchangePortalParams) (*Portal, error)
	// GetPortal returns a portal link or session by ID, expired or not, or ErrNotFound.
	GetPortal(ctx context.Context, id string) (*Portal, error)
	// RevokePortal deletes every portal link and session of an app, and returns how many.
	RevokePortal(ctx context.Context, appID string) (int64, error)
	// PurgePortal deletes portal links and sessions that expired at or before the given time, and
	// returns how many.
	PurgePortal(ctx context.Context, before time.Time) (int64, error)
	// DisableFailing disables active subscriptions failing since before p.FailingSince, with
	// p.Reason, and returns their IDs.
	DisableFailing(ctx context.Context, p DisableFailingParams) ([]string, error)

	Close() error
}

// Page selects a slice of a list ordered by ID: up to Limit items after the ID After.
type Page struct {
	After string
	Limit int
}

// RevokeCredentialParams are the arguments of Store.RevokeCredential.
type RevokeCredentialParams struct {
	ID                  string
	At                  time.Time
	DeleteSubscriptions bool
}

// CreateSubscriptionParams are the arguments of Store.CreateSubscription.
type CreateSubscriptionParams struct {
	Subscription *Subscription
	// Handshake, when set, is a delivery of kind DeliveryHandshake for the new subscription.
	Handshake *Delivery
	// GrantID is the grant the subscription was allowed by, so that a revocation racing the
	// creation cannot leave an active subscription without one.
	GrantID string
}

// RevokeGrantParams are the arguments of Store.RevokeGrant.
type RevokeGrantParams struct {
	ID        string
	AccountID string
	At        time.Time
	Reason    string
}

// SubscriptionFilter selects subscriptions; zero fields match everything.
type SubscriptionFilter struct {
	AppID        string
	AccountID    string
	Format       string
	EntityKey    string
	URL          string
	CredentialID string
	Page
}

// IngestParams are the arguments of Store.Ingest.
type IngestParams struct {
	Events []*Event
	// Route picks the deliveries to create for ev among the active subscriptions of its account
	// that name no entity or name ev's entity (Subscription.EntityKey == ev.Entity.ID); those
	// limited to other entities are not offered, so that an account with a subscription per
	// document does not cost a read of all of them for every event. It runs inside the
	// transaction and must not block.
	Route func(ev *Event, subs []*Subscription) []*Delivery
	// Parties, when not nil, has Ingest read apps and accounts in its transaction, once Route has
	// run for every event: those Parties names then, into its Apps and Accounts (IDs with no row
	// left out).
	Parties *Parties
}

// Parties are apps and accounts an Ingest call reads for its caller: the ingester's, for the
// deliveries it hands straight to the dispatcher. Read after the commit, on SQLite's reader pool,
// each cost reading its pages from the file again, since a reader drops its page cache whenever
// the database has changed; the writer's transaction has them cached.
type Parties struct {
	// AppIDs and AccountIDs are the rows wanted; an ID may repeat.
	AppIDs, AccountIDs []string
	// Apps and Accounts are the rows found, by ID.
	Apps     map[string]*App
	Accounts map[string]*Account
}

// IngestResult is what became of one event given to Store.Ingest.
type IngestResult struct {
	EventID    string
	Duplicate  bool
	Deliveries int
}

// ClaimParams are the arguments of Store.ClaimDue.
type ClaimParams struct {
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
	// PerSubscription is the most deliveries of one subscription a claim takes; 0: no limit.
	PerSubscription int
	// InFlight counts, by subscription, the deliveries this node holds already (in flight or
	// waiting in the dispatcher for a slot): a claim takes at most PerSubscription less these of
	// one subscription, which is what the dispatcher has room for. More were claimed only to be
	// given back, a write each.
	InFlight map[string]int
	// Owner names the node taking the leases (Delivery.LeaseOwner).
	Owner string
	// Skip are subscriptions whose deliveries are not claimed now, however old: the dispatcher
	// cannot send them (a cap is full, the circuit is open). Without it, a hung receiver's backlog
	// would be claimed, refused and given back batch after batch, ahead of everyone else's work.
	Skip []string
}

// Work is a claimed delivery with everything needed to shape and send it.
type Work struct {
	Delivery     *Delivery
	Event        *Event // nil for a handshake
	Subscription *Subscription
	App          *App
	Account      *Account
}

// Outcome is a finished attempt and what follows from it.
type Outcome struct {
	Attempt *Attempt
	// State is the delivery's next state: pending (a retry, due at NextAttemptAt), succeeded,
	// failed, dead or skipped. A skipped outcome leaves the subscription's health alone: the
	// receiver was not asked.
	State         DeliveryState
	NextAttemptAt time.Time
	// SubscriptionID is the delivery's subscription, whose health the outcome updates.
	SubscriptionID string
	// Healthy clears the subscription's FailingSince; otherwise a failure sets it if unset.
	Healthy bool
	// Disable, when set, disables the subscription with this reason.
	Disable string
}

// DeliveryCounts are what Store.CountDeliveries returns.
type DeliveryCounts struct {
	// Due are pending deliveries whose next attempt is due (at or before now): the backlog.
	Due int64
	// Scheduled are pending deliveries due later: retries waiting out their backoff, paced ones,
	// events published with a later deliver_at.
	Scheduled int64
	// InFlight are deliveries claimed and being attempted.
	InFlight int64
}

// RecoverLeasesParams are the arguments of Store.RecoverLeases.
type RecoverLeasesParams struct {
	ExpiredBefore time.Time
	DueAt         time.Time
	// Owner, when set, recovers only the leases this node holds: on a database other nodes share,
	// theirs are their own until they expire.
	Owner string
}

// SharedStore is a Store that other nodes may use at once (PostgreSQL): a node then owns only the
// leases it took, and coordinates with the others (Config.Notifier, Config.Leader).
type SharedStore interface {
	Shared() bool
}

// shared reports whether other nodes may use s at once.
func shared(s Store) bool {
	ss, ok := s.(SharedStore)
	return ok && ss.Shared()
}

// DeliveryFilter selects deliveries; zero fields match everything.
type DeliveryFilter struct {
	AppID string
	// AccountID keeps the deliveries of subscriptions to this account.
	AccountID string
	// Granted keeps the deliveries of subscriptions to accounts with an unrevoked grant to their
	// app.
	Granted        bool
	SubscriptionID string
	EventID        string
	State          DeliveryState
	// EventType keeps the deliveries of events of this type.
	EventType string
	// Since (inclusive) and Until (exclusive) bound when the deliveries were made; zero: no bound.
	Since, Until time.Time
	// Before is a cursor: only deliveries with smaller IDs.
	Before string
	Limit  int
}

// ReplayParams are the arguments of Store.ReplaySubscription.
type ReplayParams struct {
	SubscriptionID string
	Since          time.Time
	Now            time.Time
	// NewID makes the ID of each new delivery.
	NewID func() string
	// OrderingKey is the ordered queue of a new delivery of an event about entity; "" or nil: not
	// ordered.
	OrderingKey func(entity Entity) string
}

// DisableFailingParams are the arguments of Store.DisableFailing.
type DisableFailingParams struct {
	FailingSince time.Time
	Now          time.Time
	Reason       string
}

// RetryDeliveriesParams are the arguments of Store.RetryDeliveries.
type RetryDeliveriesParams struct {
	// Scope keeps the deliveries a caller may see: its AppID, AccountID and Granted fields count,
	// the others are ignored.
	Scope          DeliveryFilter
	SubscriptionID string
	// States are the states retried, of pending, failed, dead and skipped; at least one.
	States []DeliveryState
	// Since (inclusive) and Until (exclusive) bound the deliveries' CreatedAt; zero: no bound.
	Since, Until time.Time
	Now          time.Time
	Limit        int
}

// EventFilter selects events; zero fields match everything.
type EventFilter struct {
	AccountID string
	Type      string
	// Since (inclusive) and Until (exclusive) bound the events' CreatedAt; zero: no bound.
	Since, Until time.Time
	// Before is a cursor: only events with smaller IDs.
	Before string
	Limit  int
}
