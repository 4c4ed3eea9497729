package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Portal links let a platform open the console for one of its integrators without handing out a
// credential: the operator asks for a link, the integrator's browser trades it once for a session
// token that acts as the app, and both expire on their own.
//
// They live in this node's memory, not in the database. A link is meant to be opened within
// minutes of being made, and a session ends within the hour, so losing them on restart costs a
// new link. The price: on a database several nodes share, the link must be opened on the node
// that made it (a sticky load balancer), and a session only works there.
const (
	// PortalLinkTTL is how long a portal link can be opened.
	PortalLinkTTL = 10 * time.Minute
	// PortalSessionTTL is how long the token a link was traded for acts as the app.
	PortalSessionTTL = time.Hour
	// maxPortalEntries bounds what strangers could make the node hold; only the operator makes
	// links, so reaching it means something is wrong, and the oldest are dropped.
	maxPortalEntries = 10000

	portalLinkPrefix    = "psl_"
	portalSessionPrefix = "pss_"
)

var (
	// ErrPortalLinkUsed is a link opened a second time: it works once.
	ErrPortalLinkUsed = fmt.Errorf("the portal link was used already; ask for a new one: %w", engine.ErrUnauthorized)
	// ErrPortalLinkExpired is a link opened too late.
	ErrPortalLinkExpired = fmt.Errorf("the portal link has expired; ask for a new one: %w", engine.ErrUnauthorized)
	errPortalLinkUnknown = fmt.Errorf("the portal link is not valid: %w", engine.ErrUnauthorized)
	errPortalSession     = fmt.Errorf("the portal session is not valid or has expired: %w", engine.ErrUnauthorized)
)

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

// portalEntry is a link or a session by id. Only the secret's digest is kept, so a dump of the
// node's memory shows no usable link, and it is compared in constant time.
type portalEntry struct {
	app     *engine.App
	digest  []byte
	expires time.Time
	used    bool
}

type portal struct {
	mu       sync.Mutex
	links    map[string]*portalEntry
	sessions map[string]*portalEntry
}

func newPortal() *portal {
	return &portal{links: map[string]*portalEntry{}, sessions: map[string]*portalEntry{}}
}

// NewPortalLink makes a single-use link code for app, valid for PortalLinkTTL.
func (a *Authenticator) NewPortalLink(app *engine.App) PortalLink {
	now := a.clock.Now()
	id, secret := portalID(), portalSecret()
	a.portal.mu.Lock()
	defer a.portal.mu.Unlock()
	prune(a.portal.links, now)
	a.portal.links[id] = &portalEntry{app: app, digest: engine.HashSecret(secret), expires: now.Add(PortalLinkTTL)}
	return PortalLink{Code: portalLinkPrefix + id + "." + secret, ExpiresAt: now.Add(PortalLinkTTL)}
}

// ExchangePortalLink trades a link code, once, for a session token acting as the link's app. A
// link used already, expired or unknown is refused with engine.ErrUnauthorized; the first two say so.
func (a *Authenticator) ExchangePortalLink(code string) (PortalSession, error) {
	id, secret, ok := splitPortal(code, portalLinkPrefix)
	if !ok {
		return PortalSession{}, errPortalLinkUnknown
	}
	now := a.clock.Now()
	a.portal.mu.Lock()
	defer a.portal.mu.Unlock()
	link, found := a.portal.links[id]
	if !found || subtle.ConstantTimeCompare(engine.HashSecret(secret), link.digest) != 1 {
		return PortalSession{}, errPortalLinkUnknown
	}
	switch {
	case link.used:
		return PortalSession{}, ErrPortalLinkUsed
	case !now.Before(link.expires):
		return PortalSession{}, ErrPortalLinkExpired
	}
	// Kept, marked, until it expires: a second try then says why it fails.
	link.used = true
	sid, ssecret := portalID(), portalSecret()
	prune(a.portal.sessions, now)
	a.portal.sessions[sid] = &portalEntry{app: link.app, digest: engine.HashSecret(ssecret), expires: now.Add(PortalSessionTTL)}
	return PortalSession{Token: portalSessionPrefix + sid + "." + ssecret, App: link.app, ExpiresAt: now.Add(PortalSessionTTL)}, nil
}

// portalPrincipal resolves a portal session token. The principal is the app, as a credential of
// the whole app (bound to no account, no scopes) would be: it reaches what the app's grants let it
// reach, and it cannot publish.
func (a *Authenticator) portalPrincipal(token string) (*engine.Principal, error) {
	id, secret, ok := splitPortal(token, portalSessionPrefix)
	if !ok {
		return nil, errPortalSession
	}
	a.portal.mu.Lock()
	s, found := a.portal.sessions[id]
	a.portal.mu.Unlock()
	if !found || subtle.ConstantTimeCompare(engine.HashSecret(secret), s.digest) != 1 || !a.clock.Now().Before(s.expires) {
		return nil, errPortalSession
	}
	if err := a.allow(portalSessionPrefix + id); err != nil {
		return nil, err
	}
	return &engine.Principal{App: s.app, Credential: &engine.Credential{AppID: s.app.ID, Kind: engine.CredentialAPIKey}}, nil
}

// prune drops what expired and, past the cap, everything: the cap is a guard, not a working limit.
func prune(m map[string]*portalEntry, now time.Time) {
	for id, e := range m {
		if !now.Before(e.expires) {
			delete(m, id)
		}
	}
	if len(m) >= maxPortalEntries {
		clear(m)
	}
}

func splitPortal(s, prefix string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(s, prefix)
	if !found {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, ".")
	return id, secret, ok && id != "" && secret != ""
}

func portalID() string { return randomText(12) }

func portalSecret() string { return randomText(32) }

func randomText(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on the platforms Go supports; a link made of zeros must never be.
		panic(errors.Join(errors.New("portal: no randomness"), err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
