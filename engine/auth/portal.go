package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Portal links let a platform open the console for one of its integrators without handing out a
// credential: the operator asks for a link, the integrator's browser trades it once for a session
// token that acts as the app, and both expire on their own, by this node's clock.
//
// They live in the database (engine.Store's portal methods), as digests of their secrets
// (TestPortalSurvivesRestart searches the files): on a database several nodes share, a link made
// on one node is traded on any other, and its session works on every node
// (TestTwoNodesOverHTTPRevocationAndPlugin) and after a restart (TestPortalSurvivesRestart). A
// session is read from the store on every request, not cached, so that RevokePortalSessions ends
// it on the very next request, on any node (the two-node test again).
const (
	// PortalLinkTTL is how long a portal link can be opened.
	PortalLinkTTL = 10 * time.Minute
	// PortalSessionTTL is how long the token a link was traded for acts as the app.
	PortalSessionTTL = time.Hour
	// MaxPortalPerApp bounds the live links, and apart from them the live sessions, one app has:
	// making one more ends the app's oldest, rather than refusing, so that a platform that makes a
	// link on every page view of its integrator never locks it out. Only the operator makes links,
	// so the bound keeps a runaway script from filling the database, not a stranger.
	MaxPortalPerApp = 100

	portalLinkPrefix    = "psl"
	portalSessionPrefix = "pss"
	// portalSessionStart begins every session token: the prefix and the "_" engine.NewID puts
	// after it, so that no credential ID that merely starts with the prefix is taken for one.
	portalSessionStart = portalSessionPrefix + "_"
)

var (
	// ErrPortalLinkUsed is a link opened a second time: it works once.
	ErrPortalLinkUsed = fmt.Errorf("the portal link was used already; ask for a new one: %w", engine.ErrUnauthorized)
	// ErrPortalLinkExpired is a link opened too late.
	ErrPortalLinkExpired = fmt.Errorf("the portal link has expired; ask for a new one: %w", engine.ErrUnauthorized)
	errPortalLinkUnknown = fmt.Errorf("the portal link is not valid: %w", engine.ErrUnauthorized)
	errPortalSession     = fmt.Errorf("the portal session is not valid or has expired: %w", engine.ErrUnauthorized)
)

// PortalStore is where portal links and sessions live; engine.Store has it.
type PortalStore interface {
	CreatePortal(ctx context.Context, p engine.CreatePortalParams) error
	ExchangePortalLink(ctx context.Context, p engine.ExchangePortalParams) (*engine.Portal, error)
	GetPortal(ctx context.Context, id string) (*engine.Portal, error)
	RevokePortal(ctx context.Context, appID string) (int64, error)
}

// PortalLink is a link made for an app.
type PortalLink struct {
	Code      string
	ExpiresAt time.Time
}

// PortalSession is what a link was traded for.
type PortalSession struct {
	Token     string
	App       *engine.App
	ExpiresAt time.Time
}

// NewPortalLink makes a single-use link code for app, valid for PortalLinkTTL.
func (a *Authenticator) NewPortalLink(ctx context.Context, app *engine.App) (PortalLink, error) {
	now := a.clock.Now()
	p, code := newPortalEntry(engine.PortalLink, app.ID, now, PortalLinkTTL)
	if err := a.store.CreatePortal(ctx, engine.CreatePortalParams{Portal: p, Max: MaxPortalPerApp, Now: now}); err != nil {
		return PortalLink{}, fmt.Errorf("make a portal link: %w", err)
	}
	return PortalLink{Code: code, ExpiresAt: p.ExpiresAt}, nil
}

// ExchangePortalLink trades a link code, once, for a session token acting as the link's app. A
// link used already, expired or unknown is refused with engine.ErrUnauthorized; the first two say so.
func (a *Authenticator) ExchangePortalLink(ctx context.Context, code string) (PortalSession, error) {
	id, secret, ok := splitPortal(code, portalLinkPrefix)
	if !ok {
		return PortalSession{}, errPortalLinkUnknown
	}
	now := a.clock.Now()
	session, token := newPortalEntry(engine.PortalSession, "", now, PortalSessionTTL)
	digest := engine.HashSecret(secret)
	_, err := a.store.ExchangePortalLink(ctx, engine.ExchangePortalParams{
		LinkID: id, Session: session, Max: MaxPortalPerApp, Now: now,
		Check: func(link *engine.Portal) error {
			switch {
			case subtle.ConstantTimeCompare(digest, link.SecretHash) != 1:
				return errPortalLinkUnknown
			case link.UsedAt != nil:
				return ErrPortalLinkUsed
			case !now.Before(link.ExpiresAt):
				return ErrPortalLinkExpired
			}
			return nil
		},
	})
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return PortalSession{}, errPortalLinkUnknown
	case errors.Is(err, engine.ErrConflict):
		// Another exchange of the same link, on this node or another, won between our read and write.
		return PortalSession{}, ErrPortalLinkUsed
	case err != nil:
		return PortalSession{}, err
	}
	app, err := a.store.GetApp(ctx, session.AppID)
	if err != nil {
		return PortalSession{}, fmt.Errorf("the portal link's app: %w", err)
	}
	return PortalSession{Token: token, App: app, ExpiresAt: session.ExpiresAt}, nil
}

// RevokePortalSessions ends every portal link and session of an app, on every node at their next
// request, and returns how many there were.
func (a *Authenticator) RevokePortalSessions(ctx context.Context, appID string) (int64, error) {
	return a.store.RevokePortal(ctx, appID)
}

// portalPrincipal resolves a portal session token. The principal is the app, as a credential of
// the whole app (bound to no account, no scopes) would be: it reaches what the app's grants let it
// reach, and it cannot publish.
func (a *Authenticator) portalPrincipal(ctx context.Context, token string) (*engine.Principal, error) {
	id, secret, ok := splitPortal(token, portalSessionPrefix)
	if !ok {
		return nil, errPortalSession
	}
	s, err := a.store.GetPortal(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, errPortalSession
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(engine.HashSecret(secret), s.SecretHash) != 1 || s.Kind != engine.PortalSession || !a.clock.Now().Before(s.ExpiresAt) {
		return nil, errPortalSession
	}
	if err := a.allow(id); err != nil {
		return nil, err
	}
	app, err := a.store.GetApp(ctx, s.AppID)
	if err != nil {
		return nil, fmt.Errorf("the portal session's app: %w", err)
	}
	return &engine.Principal{App: app, Credential: &engine.Credential{AppID: app.ID, Kind: engine.CredentialAPIKey}}, nil
}

// newPortalEntry makes a link or session for appID and the code or token that opens it: its ID, a
// dot, and a secret of which only the digest is stored.
func newPortalEntry(kind engine.PortalKind, appID string, now time.Time, ttl time.Duration) (*engine.Portal, string) {
	prefix := portalLinkPrefix
	if kind == engine.PortalSession {
		prefix = portalSessionPrefix
	}
	// engine.NewID sorts by creation, which the per-app bound needs to tell the oldest among
	// entries made in one millisecond.
	id, secret := engine.NewID(prefix), portalSecret()
	return &engine.Portal{ID: id, Kind: kind, AppID: appID, SecretHash: engine.HashSecret(secret), CreatedAt: now, ExpiresAt: now.Add(ttl)}, id + "." + secret
}

// splitPortal splits a code or token into the ID it names (which carries prefix) and its secret.
func splitPortal(s, prefix string) (id, secret string, ok bool) {
	if !strings.HasPrefix(s, prefix+"_") {
		return "", "", false
	}
	id, secret, ok = strings.Cut(s, ".")
	return id, secret, ok && len(id) > len(prefix)+1 && secret != ""
}

func portalSecret() string { return randomText(32) }

func randomText(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on the platforms Go supports; a link made of zeros must never be.
		panic(errors.Join(errors.New("portal: no randomness"), err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
