package engine

import "time"

// PortalKind is what a stored portal entry is.
type PortalKind string

const (
	// PortalLink is a link the operator made, to be traded once for a session.
	PortalLink PortalKind = "link"
	// PortalSession is what a link was traded for: a token that acts as the link's app.
	PortalSession PortalKind = "session"
)

// Portal is a portal link or session as stored (package auth makes and checks them). Only the
// digest of its secret is kept, so that a copy of the database opens no console.
type Portal struct {
	ID         string
	Kind       PortalKind
	AppID      string
	SecretHash []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// UsedAt is when a link was traded; kept until the link expires, so that a second try is told
	// why it fails.
	UsedAt *time.Time
}

// CreatePortalParams are the arguments of Store.CreatePortal.
type CreatePortalParams struct {
	Portal *Portal
	// Max bounds the entries of Portal's kind its app has that have not expired at Now: making
	// one more deletes the oldest (by CreatedAt, then ID) so that Max are left. 0: no bound.
	Max int
	Now time.Time
}

// ExchangePortalParams are the arguments of Store.ExchangePortalLink.
type ExchangePortalParams struct {
	LinkID string
	// Check is given the stored link inside the transaction and refuses it with an error of its
	// own (a wrong secret, expired, used already), which the store returns as it is and which
	// changes nothing. It must not block, and may run more than once (a driver may run a
	// transaction again).
	Check func(link *Portal) error
	// Session is stored for the link's app (the store sets Session.AppID), bounded by Max as
	// CreatePortal bounds it.
	Session *Portal
	Max     int
	Now     time.Time
}
