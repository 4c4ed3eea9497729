// Package storetest is the behaviour every store driver must have to keep the SalesKing style's
// data, as one suite a driver runs against a real database (plugins/salesking/store/sqlite runs
// it on a file).
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/salesking/store"
)

// Accounts are the accounts the suite records sub-domains for. The style's data refers to the
// engine's accounts, which the style's store does not create: open returns a store on a fresh
// database in which the engine's store holds these two accounts, and no other.
var Accounts = [2]string{"acc_salesking_1", "acc_salesking_2"}

// missing is an account the engine does not know.
const missing = "acc_nope"

// Run runs the suite; open returns a store on a fresh database holding Accounts, closed by the
// test's cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"NotFoundBeforeSet", testNotFoundBeforeSet},
		{"SetReplaces", testSetReplaces},
		{"AccountsApart", testAccountsApart},
		{"MissingAccountRefused", testMissingAccountRefused},
		{"Milliseconds", testMilliseconds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

var at = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func mustSet(t *testing.T, s store.Store, accountID, subDomain string, at time.Time) {
	t.Helper()
	if err := s.SetSubDomain(context.Background(), accountID, subDomain, at); err != nil {
		t.Fatalf("SetSubDomain(%s, %s): %v", accountID, subDomain, err)
	}
}

func wantSubDomain(t *testing.T, s store.Store, accountID, wantSub string, wantAt time.Time) {
	t.Helper()
	sub, updated, err := s.SubDomain(context.Background(), accountID)
	if err != nil || sub != wantSub || !updated.Equal(wantAt) {
		t.Errorf("SubDomain(%s) = %q %v %v, want %q at %v", accountID, sub, updated, err, wantSub, wantAt)
	}
}

func testNotFoundBeforeSet(t *testing.T, s store.Store) {
	for _, id := range []string{Accounts[0], missing} {
		if _, _, err := s.SubDomain(context.Background(), id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("SubDomain(%s) before it is set: %v, want ErrNotFound", id, err)
		}
	}
}

func testSetReplaces(t *testing.T, s store.Store) {
	mustSet(t, s, Accounts[0], "acme", at)
	wantSubDomain(t, s, Accounts[0], "acme", at)
	mustSet(t, s, Accounts[0], "acme-gmbh", at.Add(time.Hour))
	wantSubDomain(t, s, Accounts[0], "acme-gmbh", at.Add(time.Hour))
}

func testAccountsApart(t *testing.T, s store.Store) {
	mustSet(t, s, Accounts[0], "acme", at)
	mustSet(t, s, Accounts[1], "globex", at.Add(time.Minute))
	mustSet(t, s, Accounts[0], "acme-gmbh", at.Add(time.Hour))
	wantSubDomain(t, s, Accounts[0], "acme-gmbh", at.Add(time.Hour))
	wantSubDomain(t, s, Accounts[1], "globex", at.Add(time.Minute))
}

// An account that does not exist has no company to describe.
func testMissingAccountRefused(t *testing.T, s store.Store) {
	if err := s.SetSubDomain(context.Background(), missing, "nope", at); err == nil {
		t.Error("set the sub-domain of a missing account")
	}
	if _, _, err := s.SubDomain(context.Background(), missing); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("missing account after a refused set: %v, want ErrNotFound", err)
	}
}

// The API answers with the time it set, which it truncates to the millisecond: reading it back
// must give the same instant, in UTC.
func testMilliseconds(t *testing.T, s store.Store) {
	ms := at.Add(1234 * time.Millisecond)
	mustSet(t, s, Accounts[0], "acme", ms)
	_, updated, err := s.SubDomain(context.Background(), Accounts[0])
	if err != nil || !updated.Equal(ms) || updated.Location() != time.UTC {
		t.Errorf("SubDomain = %v %v, want %v in UTC", updated, err, ms)
	}
}
