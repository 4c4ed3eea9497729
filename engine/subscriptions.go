package engine

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchyard/switchyard/engine/outbound"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

const (
	// maxEventTypeLen bounds an event type and a subscription's pattern: they are stored with every
	// event and delivery, and echoed in errors.
	maxEventTypeLen = 128
	// MinChosenSecretBytes is the shortest signing secret a caller of the native API may choose: a
	// shorter one can be guessed from the signatures it makes. Vendor styles keep their vendors'
	// rules, which some leave to the integrator.
	MinChosenSecretBytes = 16
	maxEventFilters      = 100
	maxOptions           = 50
	maxSecretLen         = 512
	maxEntityKeyLen      = 512
	maxPerSecond         = 100000
)

// NewSubscription is the input of CreateSubscription.
type NewSubscription struct {
	// AppID is for the operator, who subscribes on an app's behalf; an app's own credential
	// implies it.
	AppID     string            `json:"app_id"`
	AccountID string            `json:"account_id"`
	Format    string            `json:"format"`
	Events    []string          `json:"events"`
	EntityKey string            `json:"entity_key"`
	URL       string            `json:"url"`
	Secret    string            `json:"secret"`
	Options   map[string]string `json:"options"`
	// RetryPolicy replaces the default schedule.
	RetryPolicy *RetryPolicy `json:"retry_policy"`
	// MaxPerSecond caps the delivery rate to this subscriber; 0 is no cap.
	MaxPerSecond float64 `json:"max_per_second"`
	// Ordering sends deliveries one at a time per entity, or per subscription; default none.
	Ordering Ordering `json:"ordering"`
	// OnDead says whether a dead ordered delivery releases those behind it; default continue.
	OnDead OnDead `json:"on_dead"`
	// NoSecret leaves the subscription unsigned when Secret is empty, for styles whose secret is
	// optional; otherwise a secret is generated.
	NoSecret bool `json:"-"`
}

// CreateSubscription registers a subscription. Its Secret is set on the result, as the subscriber
// uses it, and shown only now.
// When its plugin has an on_subscribe hook, the subscription waits for confirmation and the
// handshake is queued for delivery in the same transaction.
func (e *Engine) CreateSubscription(ctx context.Context, p *Principal, in NewSubscription) (*Subscription, error) {
	appID, err := e.subscriberApp(ctx, p, in.AppID)
	if err != nil {
		return nil, err
	}
	accountID, err := e.subscriptionAccount(ctx, p, in.AccountID)
	if err != nil {
		return nil, err
	}
	plugin, err := e.format(in.Format)
	if err != nil {
		return nil, err
	}
	m := plugin.Manifest()
	now := e.now()
	s := &Subscription{
		ID: NewID("sub"), AppID: appID, AccountID: accountID, Format: in.Format, EntityKey: in.EntityKey,
		URL: in.URL, Options: in.Options, Secret: in.Secret, RetryPolicy: in.RetryPolicy, MaxPerSecond: in.MaxPerSecond,
		Ordering: in.Ordering, OnDead: in.OnDead, State: SubscriptionActive, CreatedAt: now, UpdatedAt: now,
	}
	if p.Credential != nil {
		s.CredentialID = p.Credential.ID
	}
	if s.Events, err = checkEventFilters(&m, in.Events); err != nil {
		return nil, err
	}
	grant, err := e.reach(ctx, p, accountID)
	if err != nil {
		return nil, err
	}
	if err := checkGranted(grant, s.Events); err != nil {
		return nil, err
	}
	if err := e.checkSubscriptionFields(ctx, &m, s); err != nil {
		return nil, err
	}
	if len(in.Secret) > maxSecretLen {
		return nil, invalidf("secret", "is at most %d characters", maxSecretLen)
	}
	shown := in.Secret
	if shown == "" && !in.NoSecret {
		shown = newSecret(&m)
	}
	s.Secret = storedSecret(&m, shown)
	if err := e.styles.admit(ctx, p, s); err != nil {
		return nil, err
	}
	params := CreateSubscriptionParams{Subscription: s}
	if grant != nil {
		params.GrantID = grant.ID
	}
	if plugin.Has(sdk.HookOnSubscribe) {
		s.State = SubscriptionPending
		s.ConfirmTokenHash = HashToken(e.confirmKey.Token(s.ID))
		params.Handshake = &Delivery{
			ID: NewID("dlv"), SubscriptionID: s.ID, AppID: s.AppID, Kind: DeliveryHandshake,
			State: DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		}
	}
	if err := e.store.CreateSubscription(ctx, params); err != nil {
		return nil, fmt.Errorf("create subscription: %w", err)
	}
	if params.Handshake != nil {
		e.dispatcher.notify()
	}
	return withShownSecret(s, shown), nil
}

func (e *Engine) subscriberApp(ctx context.Context, p *Principal, appID string) (string, error) {
	if !p.Admin {
		if appID != "" && appID != p.App.ID {
			return "", invalidf("app_id", "an app subscribes for itself; leave app_id out")
		}
		return p.App.ID, nil
	}
	if appID == "" {
		return "", invalidf("app_id", "is required when the operator subscribes on an app's behalf")
	}
	if _, err := e.store.GetApp(ctx, appID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", invalidf("app_id", "no app %q", appID)
		}
		return "", err
	}
	return appID, nil
}

// subscriptionAccount resolves the account to subscribe to; a credential bound to an account can
// subscribe to that account only.
func (e *Engine) subscriptionAccount(ctx context.Context, p *Principal, accountID string) (string, error) {
	if p.Credential != nil && p.Credential.AccountID != "" {
		if accountID == "" {
			accountID = p.Credential.AccountID
		}
		if accountID != p.Credential.AccountID {
			return "", fmt.Errorf("this credential was granted by account %s only: %w", p.Credential.AccountID, ErrForbidden)
		}
	}
	if accountID == "" {
		return "", invalidf("account_id", "is required")
	}
	if _, err := e.store.GetAccount(ctx, accountID); err != nil {
		return "", accountRef("account_id", accountID, err)
	}
	return accountID, nil
}

func (e *Engine) format(name string) (Plugin, error) {
	if name == "" {
		return nil, invalidf("format", "is required: the name of a loaded plugin")
	}
	p, ok := e.plugins.Get(name)
	if !ok {
		return nil, invalidf("format", "no plugin %q is loaded", name)
	}
	return p, nil
}

// checkEventFilters validates a subscription's event patterns against what its plugin accepts,
// and returns them without duplicates.
func checkEventFilters(m *sdk.Manifest, filters []string) ([]string, error) {
	if len(filters) == 0 {
		return nil, invalidf("events", "list at least one event type or pattern, such as client.create or client.*")
	}
	if len(filters) > maxEventFilters {
		return nil, invalidf("events", "at most %d", maxEventFilters)
	}
	out := make([]string, 0, len(filters))
	for _, f := range filters {
		if len(f) > maxEventTypeLen {
			return nil, invalidf("events", "a pattern is at most %d characters", maxEventTypeLen)
		}
		if !sdk.IsTypePattern(f) {
			return nil, invalidf("events", "%q is not an event type (object.action) or pattern (object.*, *.action, *)", f)
		}
		if !overlaps(m, f) {
			return nil, invalidf("events", "format %s does not deliver %q; it delivers %s", m.Name, f, eventTypesOf(m))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

func eventTypesOf(m *sdk.Manifest) []string {
	types := make([]string, len(m.Events))
	for i, e := range m.Events {
		types[i] = e.Type
	}
	return types
}

// checkSubscriptionFields checks the URL (its form, and that it does not reach a private network),
// the entity key, the options against the plugin's manifest, and the retry policy.
func (e *Engine) checkSubscriptionFields(ctx context.Context, m *sdk.Manifest, s *Subscription) error {
	if s.URL == "" {
		return invalidf("url", "is required")
	}
	if err := checkHTTPURL("url", s.URL); err != nil {
		return err
	}
	if err := e.guard.CheckURL(ctx, s.URL); err != nil {
		return urlRefused("url", err)
	}
	if len(s.EntityKey) > maxEntityKeyLen {
		return invalidf("entity_key", "is at most %d characters", maxEntityKeyLen)
	}
	if len(s.Options) > maxOptions {
		return invalidf("options", "at most %d", maxOptions)
	}
	for k, v := range s.Options {
		i := slices.IndexFunc(m.Options, func(o sdk.Option) bool { return o.Name == k })
		if i < 0 {
			return invalidf("options."+k, "format %s has no option %q", m.Name, k)
		}
		if vals := m.Options[i].Values; len(vals) > 0 && !slices.Contains(vals, v) {
			return invalidf("options."+k, "%q is not one of %v", v, vals)
		}
	}
	if err := s.RetryPolicy.Validate(); err != nil {
		return invalidf("retry_policy", "%s", err.Error())
	}
	if s.MaxPerSecond < 0 || s.MaxPerSecond > maxPerSecond {
		return invalidf("max_per_second", "must be between 0 (no cap) and %d", maxPerSecond)
	}
	return validateOrdering(s)
}

// urlRefused turns the SSRF guard's refusal into a validation error naming the reason.
func urlRefused(field string, err error) error {
	if errors.Is(err, outbound.ErrBlocked) {
		// Said for whoever runs a receiver on their own machine or network, as the quickstart does:
		// the refusal is the server's setting, not a fault of the URL.
		return invalidf(field, "%s; the server's operator can allow such addresses with --allow-private (SWITCHYARD_ALLOW_PRIVATE), e.g. 127.0.0.0/8 for a receiver on the same machine", err.Error())
	}
	if errors.Is(err, outbound.ErrInvalidURL) {
		return invalidf(field, "%s", err.Error())
	}
	return err
}

// CheckURL checks a receiver URL as a subscription's URL is checked, for styles that take URLs
// through their own API.
func (e *Engine) CheckURL(ctx context.Context, field, raw string) error {
	if err := checkHTTPURL(field, raw); err != nil {
		return err
	}
	return urlRefused(field, e.guard.CheckURL(ctx, raw))
}

// SubscriptionQuery selects the caller's subscriptions.
type SubscriptionQuery struct {
	// AppID filters by app; only the operator may name another app.
	AppID     string
	AccountID string
	Format    string
	EntityKey string
	URL       string
	// CredentialID keeps the subscriptions made with one credential (SalesKing lists an access
	// token's own); it narrows the caller's subscriptions, never widens them.
	CredentialID string
	Page
}

// ListSubscriptions lists the caller's subscriptions; the operator's, every app's.
func (e *Engine) ListSubscriptions(ctx context.Context, p *Principal, q SubscriptionQuery) ([]*Subscription, error) {
	account, err := p.accountScope(q.AccountID)
	if err != nil {
		return nil, err
	}
	f := SubscriptionFilter{AccountID: account, Format: q.Format, EntityKey: q.EntityKey, URL: q.URL, CredentialID: q.CredentialID, Page: normalizePage(q.Page)}
	if p.Admin {
		f.AppID = q.AppID
	} else {
		f.AppID = p.App.ID
	}
	subs, err := e.store.ListSubscriptions(ctx, f)
	for _, s := range subs {
		s.Circuit = e.dispatcher.circuit(s.ID)
	}
	return subs, err
}

// GetSubscription returns one of the caller's subscriptions. Another app's, or another account's
// to a credential one account granted, is not found.
func (e *Engine) GetSubscription(ctx context.Context, p *Principal, id string) (*Subscription, error) {
	s, err := e.store.GetSubscription(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.owns(s.AppID, s.AccountID) {
		return nil, notFound("subscription", id)
	}
	s.Circuit = e.dispatcher.circuit(s.ID)
	return s, nil
}

// ShowSubscription is GetSubscription with what waits in the subscription's ordered queues.
func (e *Engine) ShowSubscription(ctx context.Context, p *Principal, id string) (*Subscription, error) {
	s, err := e.GetSubscription(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := e.held(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// SubscriptionPatch changes a subscription; nil fields stay as they are.
type SubscriptionPatch struct {
	Events    *[]string          `json:"events"`
	URL       *string            `json:"url"`
	EntityKey *string            `json:"entity_key"`
	Options   *map[string]string `json:"options"`
	// RetryPolicy replaces the schedule; an empty schedule list restores the default.
	RetryPolicy *RetryPolicy `json:"retry_policy"`
	// State may be "active" (re-enabling a disabled subscription) or "disabled".
	State *SubscriptionState `json:"state"`
	// MaxPerSecond caps the delivery rate; 0 removes the cap.
	MaxPerSecond *float64 `json:"max_per_second"`
	// Ordering and OnDead change how deliveries made from now on are ordered; deliveries already
	// queued keep the queue they were made in.
	Ordering *Ordering `json:"ordering"`
	OnDead   *OnDead   `json:"on_dead"`
}

// UpdateSubscription applies a patch to one of the caller's subscriptions.
func (e *Engine) UpdateSubscription(ctx context.Context, p *Principal, id string, patch SubscriptionPatch) (*Subscription, error) {
	if _, err := e.GetSubscription(ctx, p, id); err != nil {
		return nil, err
	}
	return e.modifySubscription(ctx, id, func(s *Subscription) error {
		plugin, err := e.format(s.Format)
		if err != nil {
			return err
		}
		m := plugin.Manifest()
		if patch.Events != nil {
			if s.Events, err = checkEventFilters(&m, *patch.Events); err != nil {
				return err
			}
		}
		if patch.URL != nil {
			s.URL = *patch.URL
		}
		if patch.EntityKey != nil {
			s.EntityKey = *patch.EntityKey
		}
		if patch.MaxPerSecond != nil {
			s.MaxPerSecond = *patch.MaxPerSecond
		}
		if patch.Ordering != nil {
			s.Ordering = *patch.Ordering
		}
		if patch.OnDead != nil {
			s.OnDead = *patch.OnDead
		}
		if patch.Options != nil {
			s.Options = *patch.Options
		}
		if patch.RetryPolicy != nil {
			s.RetryPolicy = patch.RetryPolicy
			if len(patch.RetryPolicy.Schedule) == 0 {
				s.RetryPolicy = nil
			}
		}
		if patch.State != nil {
			switch *patch.State {
			case SubscriptionActive:
				if s.State == SubscriptionPending {
					return fmt.Errorf("the subscription awaits confirmation by its receiver: %w", ErrConflict)
				}
				s.State, s.DisabledReason, s.FailingSince = SubscriptionActive, "", nil
			case SubscriptionDisabled:
				s.State, s.DisabledReason = SubscriptionDisabled, "disabled through the API"
			default:
				return invalidf("state", "may be set to active or disabled")
			}
		}
		// Asked on every try, so that a grant revoked between two tries is seen.
		grant, err := e.reach(ctx, p, s.AccountID)
		if err != nil {
			return err
		}
		if err := checkGranted(grant, s.Events); err != nil {
			return err
		}
		if err := e.checkSubscriptionFields(ctx, &m, s); err != nil {
			return err
		}
		return e.styles.admit(ctx, p, s)
	})
}

// modifySubscription reads a subscription, changes it with change, and writes it back; if another
// write came in between (a delivery marking it failing, the scheduler disabling it), the change is
// applied again to the fresh copy, so that it never undoes what it did not see.
func (e *Engine) modifySubscription(ctx context.Context, id string, change func(*Subscription) error) (*Subscription, error) {
	const attempts = 5
	for i := 0; ; i++ {
		s, err := e.store.GetSubscription(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(s); err != nil {
			return nil, err
		}
		s.UpdatedAt = e.now()
		err = e.store.UpdateSubscription(ctx, s)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrConflict) || i == attempts-1 {
			return nil, fmt.Errorf("update subscription: %w", err)
		}
	}
}

// DeleteSubscription removes one of the caller's subscriptions with its deliveries.
func (e *Engine) DeleteSubscription(ctx context.Context, p *Principal, id string) (*Subscription, error) {
	s, err := e.GetSubscription(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := e.store.DeleteSubscription(ctx, id); err != nil {
		return nil, fmt.Errorf("delete subscription: %w", err)
	}
	return s, nil
}

// ReplaySubscription sends again every event the subscription received that occurred at or after
// since, as new deliveries.
func (e *Engine) ReplaySubscription(ctx context.Context, p *Principal, id string, since time.Time) (int, error) {
	if since.IsZero() {
		return 0, invalidf("since", "is required (RFC 3339)")
	}
	sub, err := e.GetSubscription(ctx, p, id)
	if err != nil {
		return 0, err
	}
	if _, err := e.reach(ctx, p, sub.AccountID); err != nil {
		return 0, err
	}
	n, err := e.store.ReplaySubscription(ctx, ReplayParams{SubscriptionID: id, Since: since, Now: e.now(),
		NewID: func() string { return NewID("dlv") },
		// Replayed deliveries queue behind what is waiting, in the order of the original events.
		OrderingKey: func(entity Entity) string { return orderingKey(sub, &Event{Entity: entity}) }})
	if err != nil {
		return 0, fmt.Errorf("replay subscription: %w", err)
	}
	if n > 0 {
		e.dispatcher.notify()
	}
	return n, nil
}

// ConfirmToken is the token of a subscription's confirmation and unsubscribe URLs, or "" when it
// has none.
func (e *Engine) ConfirmToken(s *Subscription) string { return e.styles.confirmToken(s) }

// SubscriptionByToken returns the subscription whose confirmation token this is. The token is the
// credential: whoever holds it may confirm or remove that one subscription, nothing else.
func (e *Engine) SubscriptionByToken(ctx context.Context, token string) (*Subscription, error) {
	if id, ok := e.confirmKey.ID(token); ok {
		// Minted by this node for that subscription; it counts while the subscription still has
		// confirmation URLs. A subscription made before tokens were derived keeps its first
		// token's hash, and the URLs its deliveries carry now hold the derived one.
		s, err := e.store.GetSubscription(ctx, id)
		if err == nil && s.ConfirmTokenHash == "" {
			err = fmt.Errorf("subscription %s has no confirmation URL: %w", id, ErrNotFound)
		}
		return s, err
	}
	// A token an older version minted and sent, kept as its hash.
	if token == "" {
		return nil, fmt.Errorf("no subscription has this token: %w", ErrNotFound)
	}
	return e.store.GetSubscriptionByConfirmTokenHash(ctx, HashToken(token))
}

// ConfirmSubscription activates the subscription whose confirmation token this is. Confirming
// twice is harmless.
func (e *Engine) ConfirmSubscription(ctx context.Context, token string) (*Subscription, error) {
	s, err := e.SubscriptionByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return e.modifySubscription(ctx, s.ID, func(s *Subscription) error {
		switch s.State {
		case SubscriptionDisabled:
			return fmt.Errorf("subscription %s is disabled: %w", s.ID, ErrConflict)
		case SubscriptionPending:
			s.State = SubscriptionActive
		}
		return nil
	})
}

// UnsubscribeByToken removes the subscription whose confirmation token this is.
func (e *Engine) UnsubscribeByToken(ctx context.Context, token string) (*Subscription, error) {
	s, err := e.SubscriptionByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := e.store.DeleteSubscription(ctx, s.ID); err != nil {
		return nil, fmt.Errorf("unsubscribe: %w", err)
	}
	return s, nil
}

// SecretRotation is the input of RotateSecret.
type SecretRotation struct {
	// Secret is the new secret; empty generates one.
	Secret string `json:"secret"`
	// Overlap is how long the old secret keeps signing beside the new one, so receivers can switch
	// without rejecting a delivery. Default 24 hours; at most 30 days.
	Overlap Duration `json:"overlap"`
}

const (
	defaultRotationOverlap = 24 * time.Hour
	maxRotationOverlap     = 30 * 24 * time.Hour
)

// RotateSecret gives one of the caller's subscriptions a new signing secret, shown only now. Until
// the overlap ends, deliveries are signed with both secrets in styles that can carry two signatures.
// A subscription without a secret gets its first one, and nothing overlaps.
func (e *Engine) RotateSecret(ctx context.Context, p *Principal, id string, in SecretRotation) (*Subscription, error) {
	overlap := time.Duration(in.Overlap)
	switch {
	case overlap < 0 || overlap > maxRotationOverlap:
		return nil, invalidf("overlap", "must be between 0 and %s", maxRotationOverlap)
	case overlap == 0:
		overlap = defaultRotationOverlap
	}
	if len(in.Secret) > maxSecretLen {
		return nil, invalidf("secret", "is at most %d characters", maxSecretLen)
	}
	sub, err := e.GetSubscription(ctx, p, id)
	if err != nil {
		return nil, err
	}
	plugin, err := e.format(sub.Format)
	if err != nil {
		return nil, err
	}
	m := plugin.Manifest()
	shown := in.Secret
	if shown == "" {
		shown = newSecret(&m)
	}
	secret := storedSecret(&m, shown)
	sub, err = e.modifySubscription(ctx, id, func(s *Subscription) error {
		// Constant time: the answer must not tell, by how long it took, how much of a guess at a
		// secret the caller could not read back was right.
		if subtle.ConstantTimeCompare([]byte(s.Secret), []byte(secret)) == 1 {
			return invalidf("secret", "is the current secret")
		}
		until := e.now().Add(overlap)
		s.PreviousSecret, s.PreviousSecretExpiresAt = s.Secret, &until
		if s.PreviousSecret == "" {
			s.PreviousSecretExpiresAt = nil
		}
		s.Secret = secret
		return nil
	})
	if err != nil {
		return nil, err
	}
	return withShownSecret(sub, shown), nil
}

// CheckChosenSecret refuses a signing secret a native API caller chose that is shorter than
// MinChosenSecretBytes; a whsec_ secret counts by the bytes it encodes. Empty means "generate one".
func CheckChosenSecret(secret string) error {
	if secret == "" {
		return nil
	}
	if n := len(signing.HMACKey(secret)); n < MinChosenSecretBytes {
		return invalidf("secret", "is %d bytes; a signing secret is at least %d (leave it out to have one generated)", n, MinChosenSecretBytes)
	}
	return nil
}

// storedSecret is the form in which a subscription of m's format keeps the secret its subscriber
// uses. The host reads a secret of the form whsec_<base64> as the bytes it encodes; a receiver of
// a style with verbatim secrets keys its HMAC with the text it was given, so such a secret that
// looks like that form is kept as the whsec_ encoding of its own bytes. Every other is kept as is.
func storedSecret(m *sdk.Manifest, secret string) string {
	if !m.VerbatimSecrets || secret == "" || bytes.Equal(signing.HMACKey(secret), []byte(secret)) {
		return secret
	}
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(secret))
}

// withShownSecret returns a copy of s that carries the secret as its subscriber was given it, in
// place of the form it is stored in.
func withShownSecret(s *Subscription, shown string) *Subscription {
	out := *s
	out.Secret = shown
	return &out
}

// PauseSubscription pauses one of the caller's subscriptions: its events still make deliveries,
// so nothing is lost, but none is claimed until it is resumed. Deliveries already being sent
// finish. Pausing a paused subscription keeps its first PausedAt.
func (e *Engine) PauseSubscription(ctx context.Context, p *Principal, id string) (*Subscription, error) {
	return e.setPaused(ctx, p, id, true)
}

// ResumeSubscription resumes one of the caller's subscriptions: the deliveries that came due while
// it was paused are sent, in their turn, at once; those scheduled later keep their time.
func (e *Engine) ResumeSubscription(ctx context.Context, p *Principal, id string) (*Subscription, error) {
	s, err := e.setPaused(ctx, p, id, false)
	if err == nil {
		e.dispatcher.notify()
	}
	return s, err
}

func (e *Engine) setPaused(ctx context.Context, p *Principal, id string, paused bool) (*Subscription, error) {
	sub, err := e.GetSubscription(ctx, p, id)
	if err != nil {
		return nil, err
	}
	// As for every other change to a subscription: a credential whose grant was revoked changes
	// nothing in that account.
	if _, err := e.reach(ctx, p, sub.AccountID); err != nil {
		return nil, err
	}
	if (sub.PausedAt != nil) == paused {
		return sub, nil
	}
	s, err := e.modifySubscription(ctx, id, func(s *Subscription) error {
		switch {
		case !paused:
			s.PausedAt = nil
		case s.PausedAt == nil:
			at := e.now()
			s.PausedAt = &at
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Circuit = e.dispatcher.circuit(s.ID)
	return s, nil
}
