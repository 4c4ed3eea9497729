package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/api/compat/salesking"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/sqlite"
)

var _ salesking.Store = (*sqlite.Store)(nil)

func TestSalesKingSubDomain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "switchyard.db")
	s := open(t, path, withStyles(sqlite.Options{}))
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if err := s.CreateAccount(ctx, &engine.Account{ID: "acc_1", Name: "Acme", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SalesKingSubDomain(ctx, "acc_1"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("before it is set: %v, want ErrNotFound", err)
	}
	if err := s.SetSalesKingSubDomain(ctx, "acc_1", "acme", at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSalesKingSubDomain(ctx, "acc_1", "acme-gmbh", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// An account that does not exist has no company to describe.
	if err := s.SetSalesKingSubDomain(ctx, "acc_nope", "nope", at); err == nil {
		t.Error("set the sub-domain of a missing account")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// It is in the file, not in memory.
	s = open(t, path, withStyles(sqlite.Options{}))
	defer s.Close()
	sub, updated, err := s.SalesKingSubDomain(ctx, "acc_1")
	if err != nil || sub != "acme-gmbh" || !updated.Equal(at.Add(time.Hour)) {
		t.Errorf("got %q %v %v, want acme-gmbh at %v", sub, updated, err, at.Add(time.Hour))
	}
	if _, _, err := s.SalesKingSubDomain(ctx, "acc_nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("missing account: %v", err)
	}
}
