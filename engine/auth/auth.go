// Package auth finds out who is calling: the operator by the admin token, or an app by one of its
// credentials, presented as a token, as a client pair, or as a signature a vendor style checks.
// Every route, native or vendor-compatible, authenticates here, so every caller meets the same
// checks, the same rate limit per credential, and the same cache of credentials.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Store is what authentication reads; engine.Store has it.
type Store interface {
	GetCredential(ctx context.Context, id string) (*engine.Credential, error)
	GetCredentialByClientID(ctx context.Context, clientID string) (*engine.Credential, error)
	GetApp(ctx context.Context, id string) (*engine.App, error)
	PortalStore
}

// Config configures an Authenticator.
type Config struct {
	// AdminToken authenticates the operator. Required.
	AdminToken string
	// RateLimit is how many requests per second one credential (or the admin token) may make,
	// beyond a burst of RateBurst; more get a *RateLimitError. Zero turns limiting off.
	RateLimit float64
	RateBurst int
	Clock     engine.Clock
	// Metrics counts refusals by the rate limit. Default engine.NopMetrics.
	Metrics engine.Metrics
	// CacheTTL bounds how long a cached credential is trusted without reading it again. Zero:
	// until it is revoked through this node's engine, right for a node alone on its database. On
	// a shared database revocations arrive through the engine's Notifier, and this is the fallback
	// should one be lost.
	CacheTTL time.Duration
	// RecheckRevocation reads a cached credential again on every use (one keyed read; its app
	// stays cached), so that a credential revoked through another node of a shared database is
	// refused on the next request here, not when that node's notification arrives, a few
	// milliseconds later (TestTwoNodesOverHTTPRevocationAndPlugin measured up to 12 ms).
	RecheckRevocation bool
}

// Authenticator resolves what callers present into an engine.Principal.
type Authenticator struct {
	store       Store
	clock       engine.Clock
	adminDigest [sha256.Size]byte
	limiter     *credentialLimiter
	principals  *principalCache
	metrics     engine.Metrics
	recheck     bool
}

// New returns an Authenticator over store.
func New(cfg Config, store Store) (*Authenticator, error) {
	if cfg.AdminToken == "" {
		return nil, errors.New("auth: an admin token is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = engine.SystemClock{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = engine.NopMetrics{}
	}
	return &Authenticator{
		store: store, clock: cfg.Clock,
		adminDigest: sha256.Sum256([]byte(cfg.AdminToken)),
		limiter:     newCredentialLimiter(cfg.RateLimit, cfg.RateBurst),
		principals:  newPrincipalCache(cfg.CacheTTL),
		metrics:     cfg.Metrics,
		recheck:     cfg.RecheckRevocation,
	}, nil
}

var errBadCredential = fmt.Errorf("the credential is not valid: %w", engine.ErrUnauthorized)

// Token resolves a bearer token or API key: the admin token, or "<credential id>.<secret>". Every
// failure is the same engine.ErrUnauthorized, so a caller learns nothing about which part was wrong.
func (a *Authenticator) Token(ctx context.Context, token string) (*engine.Principal, error) {
	if token == "" {
		return nil, fmt.Errorf("no credential given: %w", engine.ErrUnauthorized)
	}
	digest := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(digest[:], a.adminDigest[:]) == 1 {
		if err := a.allow("admin"); err != nil {
			return nil, err
		}
		return &engine.Principal{Admin: true}, nil
	}
	if strings.HasPrefix(token, portalSessionStart) {
		return a.portalPrincipal(ctx, token)
	}
	id, secret, ok := splitToken(token)
	if !ok {
		return nil, errBadCredential
	}
	cred, app, err := a.credentialAndApp(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, errBadCredential
	}
	if err != nil {
		return nil, err
	}
	if cred.Kind == engine.CredentialClient {
		return nil, errBadCredential
	}
	return a.admit(cred, app, secretMatches(cred, secret))
}

// Client resolves a client_id and client_secret pair.
func (a *Authenticator) Client(ctx context.Context, clientID, secret string) (*engine.Principal, error) {
	if clientID == "" || secret == "" {
		return nil, fmt.Errorf("client_id and client_secret are required: %w", engine.ErrUnauthorized)
	}
	cred, err := a.store.GetCredentialByClientID(ctx, clientID)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, errBadCredential
	}
	if err != nil {
		return nil, err
	}
	app, err := a.store.GetApp(ctx, cred.AppID)
	if err != nil {
		return nil, fmt.Errorf("credential's app: %w", err)
	}
	return a.admit(cred, app, secretMatches(cred, secret))
}

// Signed resolves a credential that proved itself with a signature only its style can check (an
// iVvy IWS signature, say): verify gets the credential and says whether the request's signature
// is its. A client pair cannot sign. A wrong signature fails as a wrong secret does, and neither
// spends the credential's rate budget.
func (a *Authenticator) Signed(ctx context.Context, credentialID string, verify func(*engine.Credential) bool) (*engine.Principal, error) {
	cred, app, err := a.credentialAndApp(ctx, credentialID)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, errBadCredential
	}
	if err != nil {
		return nil, err
	}
	ok := verify(cred)
	if cred.Kind == engine.CredentialClient {
		return nil, errBadCredential
	}
	return a.admit(cred, app, ok)
}

// Forget drops a credential from the cache, or every credential for engine.Reset, and makes
// lookups in progress not store theirs. The engine calls it around every revocation, and on every
// node of a shared database through its Notifier.
func (a *Authenticator) Forget(credentialID string) { a.principals.forget(credentialID) }

func (a *Authenticator) admit(cred *engine.Credential, app *engine.App, proved bool) (*engine.Principal, error) {
	if !proved || cred.RevokedAt != nil {
		return nil, errBadCredential
	}
	// Limited after the check, so a stranger cannot spend a real credential's budget.
	if err := a.allow(cred.ID); err != nil {
		return nil, err
	}
	return &engine.Principal{Credential: cred, App: app}, nil
}

// allow spends one of key's requests, counting a refusal.
func (a *Authenticator) allow(key string) error {
	err := a.limiter.allow(key, a.clock.Now())
	if err != nil {
		a.metrics.RateLimited("credential")
	}
	return err
}

// secretMatches compares in constant time, even for a revoked credential, so that timing says
// nothing about which check failed.
func secretMatches(cred *engine.Credential, secret string) bool {
	return subtle.ConstantTimeCompare(engine.HashSecret(secret), cred.SecretHash) == 1
}

// credentialAndApp returns a credential and its app, from the cache or the store.
func (a *Authenticator) credentialAndApp(ctx context.Context, id string) (*engine.Credential, *engine.App, error) {
	if p, ok := a.principals.get(id, a.clock.Now()); ok {
		if !a.recheck {
			return p.cred, p.app, nil
		}
		cred, err := a.store.GetCredential(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if cred.RevokedAt != nil {
			a.principals.forget(id)
		}
		return cred, p.app, nil
	}
	gen := a.principals.generation()
	cred, err := a.store.GetCredential(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	app, err := a.store.GetApp(ctx, cred.AppID)
	if err != nil {
		return nil, nil, err
	}
	if cred.RevokedAt == nil {
		a.principals.put(gen, cachedPrincipal{cred: cred, app: app, at: a.clock.Now()})
	}
	return cred, app, nil
}

func splitToken(token string) (id, secret string, ok bool) {
	for i := len(token) - 1; i >= 0; i-- {
		if token[i] == '.' {
			return token[:i], token[i+1:], i > 0 && i < len(token)-1
		}
	}
	return "", "", false
}
