// Package store is what the SalesKing style keeps beside the engine's data, as the interface every
// store driver implements for it: each account's SalesKing sub-domain, which the operator records
// and notifications carry. storetest is the suite a driver must pass; sqlite is the SQLite driver.
package store

import (
	"context"
	"time"
)

// Store keeps each account's (SalesKing company's) sub-domain: acme in acme.salesking.eu.
type Store interface {
	// SetSubDomain records an account's sub-domain, set at at, replacing any it had. An account
	// the engine does not know is refused: the sub-domain describes an account, and goes with it.
	SetSubDomain(ctx context.Context, accountID, subDomain string, at time.Time) error
	// SubDomain returns an account's sub-domain and when it was set (to the millisecond), or an
	// error wrapping engine.ErrNotFound when none was recorded.
	SubDomain(ctx context.Context, accountID string) (string, time.Time, error)
}
