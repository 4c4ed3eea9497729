package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/auth"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// countingStore holds one credential and counts how often it is read. It has no portal: these
// tests make no portal links, and a call would panic on the nil interface.
type countingStore struct {
	auth.PortalStore
	cred  *engine.Credential
	app   *engine.App
	reads int
}

func (s *countingStore) GetCredential(_ context.Context, id string) (*engine.Credential, error) {
	s.reads++
	if id != s.cred.ID {
		return nil, engine.ErrNotFound
	}
	c := *s.cred
	return &c, nil
}

func (s *countingStore) GetCredentialByClientID(context.Context, string) (*engine.Credential, error) {
	return nil, engine.ErrNotFound
}

func (s *countingStore) GetApp(context.Context, string) (*engine.App, error) { return s.app, nil }

// TestCacheFallbackOnASharedDatabase: a cached credential is trusted for CacheTTL and read again
// after it, so a revocation whose notification was lost lets the credential in for that long at
// most; Forget(engine.Reset) empties the cache at once, as a node does when it reconnects.
func TestCacheFallbackOnASharedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := enginetest.NewClock(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	st := &countingStore{
		cred: &engine.Credential{ID: "crd_1", AppID: "app_1", Kind: engine.CredentialAPIKey, SecretHash: engine.HashSecret("s3cret")},
		app:  &engine.App{ID: "app_1"},
	}
	a, err := auth.New(auth.Config{AdminToken: "admin", Clock: clock, CacheTTL: 30 * time.Second}, st)
	if err != nil {
		t.Fatal(err)
	}
	use := func() error {
		_, err := a.Token(ctx, "crd_1.s3cret")
		return err
	}
	for range 3 {
		if err := use(); err != nil {
			t.Fatal(err)
		}
	}
	if st.reads != 1 {
		t.Fatalf("3 requests read the credential %d times; want 1 (cached)", st.reads)
	}
	// Revoked on another node, and the notification lost: trusted until the TTL runs out.
	revokedAt := clock.Now()
	st.cred.RevokedAt = &revokedAt
	clock.Advance(29 * time.Second)
	if err := use(); err != nil {
		t.Fatalf("within the TTL: %v; want the cached credential let in", err)
	}
	clock.Advance(time.Second)
	if err := use(); !errors.Is(err, engine.ErrUnauthorized) {
		t.Fatalf("at the TTL: %v; want it read again and refused", err)
	}

	// A reset drops everything at once.
	st.cred.RevokedAt = nil
	if err := use(); err != nil {
		t.Fatal(err)
	}
	reads := st.reads
	a.Forget(engine.Reset)
	if err := use(); err != nil || st.reads != reads+1 {
		t.Fatalf("after a reset: %v, %d reads; want the credential read again", err, st.reads-reads)
	}
}

// TestRecheckRevocation: with RecheckRevocation, a credential revoked in the store by another node
// is refused on the very next request, no notification needed, and each use reads the
// credential once and its app never again.
func TestRecheckRevocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countingStore{
		cred: &engine.Credential{ID: "crd_1", AppID: "app_1", Kind: engine.CredentialAPIKey, SecretHash: engine.HashSecret("s3cret")},
		app:  &engine.App{ID: "app_1"},
	}
	a, err := auth.New(auth.Config{AdminToken: "admin", CacheTTL: 30 * time.Second, RecheckRevocation: true}, st)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := a.Token(ctx, "crd_1.s3cret"); err != nil {
			t.Fatal(err)
		}
	}
	if st.reads != 3 {
		t.Errorf("3 requests read the credential %d times; want 3 (once each)", st.reads)
	}
	revokedAt := time.Now()
	st.cred.RevokedAt = &revokedAt
	if _, err := a.Token(ctx, "crd_1.s3cret"); !errors.Is(err, engine.ErrUnauthorized) {
		t.Fatalf("the next request after the revocation: %v; want it refused", err)
	}
}
