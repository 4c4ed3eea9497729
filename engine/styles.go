package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
)

// A Style is the host side of a vendor style: what its plugin alone cannot do (a compatible API,
// hooks on the delivery path, jobs, tables of its own). A node assembles its styles from one
// explicit, ordered list (cmd/switchyard/node) and hands each to AddStyle before Start.
//
// What a style can do beyond being named is a capability it declares by implementing an interface
// (HookedStyle, ScheduledStyle here; routes in package api/web), checked at compile time in the
// style's own package with a line such as var _ engine.HookedStyle = (*Style)(nil).
type Style interface {
	// Name is the style's name: the format (plugin) it serves, the prefix of its settings, the
	// component of its migrations.
	Name() string
}

// HookedStyle is a style that changes how the engine handles its format's deliveries.
type HookedStyle interface {
	Style
	Hooks() StyleHooks
}

// ScheduledStyle is a style with jobs of its own, run by the engine's scheduler.
type ScheduledStyle interface {
	Style
	Jobs() []*Job
}

// ScopedStyle is a style whose API reads scopes of its own on credentials (SalesKing's "clients",
// "invoices:create"). A credential is issued only with scopes the native API or some style knows,
// so that a misspelt scope is refused when it is given, not found out when it grants nothing.
type ScopedStyle interface {
	Style
	KnowsScope(scope string) bool
}

// Authenticator finds out who is calling; package auth implements it. Every route, a style's
// too, authenticates through it, so every caller meets the same checks and rate limits.
type Authenticator interface {
	// Token resolves a bearer token or API key.
	Token(ctx context.Context, token string) (*Principal, error)
	// Client resolves a client_id and client_secret pair.
	Client(ctx context.Context, clientID, secret string) (*Principal, error)
	// Signed resolves a credential whose request signature only the style can check: verify
	// says whether the signature is the credential's.
	Signed(ctx context.Context, credentialID string, verify func(*Credential) bool) (*Principal, error)
}

// Secrets are keys a node keeps for its styles, each made at random on first use and the same
// on every start after (iVvy derives its API secrets from one).
type Secrets interface {
	Secret(name string) ([]byte, error)
}

// StyleDeps is what a style is built with.
type StyleDeps struct {
	Engine *Engine
	Auth   Authenticator
	// Secrets keeps the style's keys; name them after the style.
	Secrets Secrets
	Logger  *slog.Logger
	// PublicURL is where receivers reach this node, without a trailing slash.
	PublicURL string
	// Settings are the operator's settings for styles, by "<style>.<setting>"; a style reads its
	// own and refuses values it cannot use.
	Settings map[string]string
}

// Setting returns the operator's value for one of a style's settings, or "" when unset.
func (d StyleDeps) Setting(style, name string) string { return d.Settings[style+"."+name] }

// AddStyle installs a style's hooks and jobs. Call it before Start, once per style.
func (e *Engine) AddStyle(s Style) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return fmt.Errorf("style %s: styles are added before the engine starts", s.Name())
	}
	if !e.styles.add(s.Name()) {
		return fmt.Errorf("style %s is added twice", s.Name())
	}
	if h, ok := s.(HookedStyle); ok {
		e.styles.set(s.Name(), h.Hooks())
	}
	if j, ok := s.(ScheduledStyle); ok {
		e.jobs = append(e.jobs, j.Jobs()...)
	}
	if sc, ok := s.(ScopedStyle); ok {
		e.scoped = append(e.scoped, sc)
	}
	return nil
}

// knownScope reports whether the native API or an added style reads scope.
func (e *Engine) knownScope(scope string) bool {
	if scope == ScopePublish {
		return true
	}
	e.mu.Lock()
	scoped := e.scoped
	e.mu.Unlock()
	for _, s := range scoped {
		if s.KnowsScope(scope) {
			return true
		}
	}
	return false
}

// StyleHooks are what a vendor style adds to the engine's handling of its format. Every field is
// optional. They run on the delivery path, so they must be quick and must not block on the
// delivery's receiver.
type StyleHooks struct {
	// Prepare runs before a delivery is shaped. It may add URLs to offer the plugin (a one-time
	// callback URL, say) and returns the JSON the plugin sees as Input.State.
	Prepare func(ctx context.Context, w *Work, urls *DeliveryURLs) (state json.RawMessage, err error)
	// Kept applies what a plugin's on_response asked to keep, after a successful attempt. The
	// attempt is recorded after it returns, so it may note on a.Error why nothing was applied.
	Kept func(ctx context.Context, w *Work, a *Attempt) error
	// Skip runs first on the delivery path, before Prepare and the plugin: a non-empty reason ends
	// the delivery unsent, as skipped (DeliverySkipped), with the reason as its error. It is for a
	// vendor's rule that a receiver must not have something at all (SalesKing's roles: a user who
	// may not see an object gets no callback about it), not for a failure: an error is retried.
	Skip func(ctx context.Context, w *Work) (reason string, err error)
	// Admit vets a subscription in the format before it is stored, when it is created and when it
	// changes, whichever API the call came through: a style's rules (SalesKing's scopes and app
	// URL) must not be stepped around through the native API. The operator is not asked.
	Admit func(ctx context.Context, p *Principal, s *Subscription) error
}

// styleHooks holds the hooks by format, and mints the URLs every format is offered.
type styleHooks struct {
	publicURL      string
	certificateURL string
	confirmKey     CapabilityKey

	mu       sync.RWMutex
	names    map[string]bool
	byFormat map[string]StyleHooks
}

// add records a style's name, and says false when it is already there.
func (s *styleHooks) add(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] {
		return false
	}
	s.names[name] = true
	return true
}

func (s *styleHooks) set(format string, h StyleHooks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byFormat[format] = h
}

func (s *styleHooks) get(format string) StyleHooks {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byFormat[format]
}

// confirmToken is the token of a subscription's confirmation URLs, or "" when it has none.
func (s *styleHooks) confirmToken(sub *Subscription) string {
	if sub.ConfirmTokenHash == "" {
		return ""
	}
	return s.confirmKey.Token(sub.ID)
}

// ConfirmURL and UnsubscribeURL are the public URLs that activate or remove a subscription
// awaiting confirmation; the token is the subscription's unguessable Engine.ConfirmToken.
func ConfirmURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/hooks/subscriptions/" + url.PathEscape(token) + "/confirm"
}

func UnsubscribeURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/hooks/subscriptions/" + url.PathEscape(token) + "/unsubscribe"
}

func (s *styleHooks) prepare(ctx context.Context, w *Work) (DeliveryURLs, json.RawMessage, error) {
	urls := DeliveryURLs{Certificate: s.certificateURL}
	if tok := s.confirmToken(w.Subscription); tok != "" {
		urls.Confirm = ConfirmURL(s.publicURL, tok)
		urls.Unsubscribe = UnsubscribeURL(s.publicURL, tok)
		urls.Tokens = append(urls.Tokens, tok)
	}
	h := s.get(w.Subscription.Format)
	if h.Prepare == nil {
		return urls, nil, nil
	}
	state, err := h.Prepare(ctx, w, &urls)
	return urls, state, err
}

func (s *styleHooks) skip(ctx context.Context, w *Work) (string, error) {
	if h := s.get(w.Subscription.Format); h.Skip != nil {
		return h.Skip(ctx, w)
	}
	return "", nil
}

func (s *styleHooks) admit(ctx context.Context, p *Principal, sub *Subscription) error {
	if h := s.get(sub.Format); h.Admit != nil && !p.Admin {
		return h.Admit(ctx, p, sub)
	}
	return nil
}

func (s *styleHooks) kept(ctx context.Context, w *Work, a *Attempt) error {
	if h := s.get(w.Subscription.Format); h.Kept != nil {
		return h.Kept(ctx, w, a)
	}
	return nil
}
