package engine

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
)

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
	// Admit vets a subscription in the format before it is stored, when it is created and when it
	// changes, whichever API the call came through: a style's rules (SalesKing's scopes and app
	// URL) must not be stepped around through the native API. The operator is not asked.
	Admit func(ctx context.Context, p *Principal, s *Subscription) error
}

// styleHooks holds the hooks by format, and mints the URLs every format is offered.
type styleHooks struct {
	publicURL      string
	certificateURL string

	mu       sync.RWMutex
	byFormat map[string]StyleHooks
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

// ConfirmURL and UnsubscribeURL are the public URLs that activate or remove a subscription
// awaiting confirmation; the token is the subscription's unguessable ConfirmToken.
func ConfirmURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/hooks/subscriptions/" + url.PathEscape(token) + "/confirm"
}

func UnsubscribeURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/hooks/subscriptions/" + url.PathEscape(token) + "/unsubscribe"
}

func (s *styleHooks) prepare(ctx context.Context, w *Work) (DeliveryURLs, json.RawMessage, error) {
	urls := DeliveryURLs{Certificate: s.certificateURL}
	if tok := w.Subscription.ConfirmToken; tok != "" {
		urls.Confirm = ConfirmURL(s.publicURL, tok)
		urls.Unsubscribe = UnsubscribeURL(s.publicURL, tok)
	}
	h := s.get(w.Subscription.Format)
	if h.Prepare == nil {
		return urls, nil, nil
	}
	state, err := h.Prepare(ctx, w, &urls)
	return urls, state, err
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
