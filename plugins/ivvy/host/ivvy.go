// Package host is the host side of the iVvy style: iVvy's notification API on Switchyard, so an
// integrator's code written against iVvy works unchanged:
//
//	POST /compat/ivvy/api/1.0/account?action=subscribeToNotifications
//	POST /compat/ivvy/api/1.0/account?action=unsubscribeFromNotifications
//
// with a body {"companiesEndpoint": "https://...", ...} naming endpoint keys and receiver URLs.
// Subscribing answers the status of every endpoint ({"companiesSuccess": true, "companiesTopicId":
// "arn:aws:sns:..."}, ...); unsubscribing answers a result code per endpoint ({"companiesResult":
// 1, ...}): 1 Success, 2 Not Requested, 3 Unknown Error, 4 Not Found, 5 Incorrect Source (another
// API key subscribed it), 6 Status Not Confirmed. Only primary credentials may call them; others get
// 403 Not Allowed.
//
// Calls are signed as iVvy's API is (X-Api-Authorization: IWS key:signature, see auth.go), or carry
// a Switchyard credential (Authorization: Bearer, or x-api-key). The credential must belong to an
// account: an iVvy API key is an account's. An app's subscriptions to one account's endpoint are one
// subscription in the ivvy format, created pending: the plugin sends the SNS
// SubscriptionConfirmation, and nothing else is delivered until the receiver visits its
// SubscribeURL, which this package serves SNS-style under /compat/ivvy/sns (see sns.go).
//
// The endpoint keys, and the canonical events each one carries, are read from the loaded ivvy
// plugin's manifest: it is the one place iVvy's vocabulary lives.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	ivvyplugin "github.com/switchyard/switchyard/plugins/ivvy"
	"github.com/switchyard/switchyard/sdk"
)

// Format is the name of the plugin this style's subscriptions use.
const Format = "ivvy"

// Unsubscribe result codes, as iVvy documents them.
const (
	ResultSuccess      = 1
	ResultNotRequested = 2
	ResultUnknownError = 3
	ResultNotFound     = 4
	ResultWrongSource  = 5
	ResultNotConfirmed = 6
)

// Subscriptions is what the handlers need of the engine; the engine's methods implement it, and a
// test can make one fail.
type Subscriptions interface {
	List(ctx context.Context, p *engine.Principal, q engine.SubscriptionQuery) ([]*engine.Subscription, error)
	Create(ctx context.Context, p *engine.Principal, in engine.NewSubscription) (*engine.Subscription, error)
	Delete(ctx context.Context, p *engine.Principal, id string) error
	CheckURL(ctx context.Context, field, raw string) error
}

// EngineSubscriptions is the engine as Subscriptions.
func EngineSubscriptions(e *engine.Engine) Subscriptions { return engineSubscriptions{e} }

type engineSubscriptions struct{ e *engine.Engine }

func (s engineSubscriptions) List(ctx context.Context, p *engine.Principal, q engine.SubscriptionQuery) ([]*engine.Subscription, error) {
	return s.e.ListSubscriptions(ctx, p, q)
}

func (s engineSubscriptions) Create(ctx context.Context, p *engine.Principal, in engine.NewSubscription) (*engine.Subscription, error) {
	return s.e.CreateSubscription(ctx, p, in)
}

func (s engineSubscriptions) Delete(ctx context.Context, p *engine.Principal, id string) error {
	_, err := s.e.DeleteSubscription(ctx, p, id)
	return err
}

func (s engineSubscriptions) CheckURL(ctx context.Context, field, raw string) error {
	return s.e.CheckURL(ctx, field, raw)
}

// Style is the iVvy style of one node.
type Style struct {
	engine    *engine.Engine
	auth      engine.Authenticator
	subs      Subscriptions
	publicURL string
	logger    *slog.Logger
	keys      *apiKeys
}

var (
	_ web.Routed         = (*Style)(nil)
	_ engine.HookedStyle = (*Style)(nil)
)

// New returns the iVvy style: its API, its SNS confirmation endpoints, and the hook that gives
// iVvy deliveries SNS-shaped SubscribeURL and UnsubscribeURL.
func New(d engine.StyleDeps) (*Style, error) {
	keys, err := loadAPIKeys(d.Secrets)
	if err != nil {
		return nil, err
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Style{
		engine: d.Engine, auth: d.Auth, subs: engineSubscriptions{d.Engine},
		publicURL: strings.TrimRight(d.PublicURL, "/"), logger: logger, keys: keys,
	}, nil
}

// Name is the style's name, and its plugin's.
func (s *Style) Name() string { return Format }

// Hooks give deliveries their SNS-shaped URLs.
func (s *Style) Hooks() engine.StyleHooks { return engine.StyleHooks{Prepare: s.prepare} }

// Routes adds the style's routes to e.
func (s *Style) Routes(e *echo.Echo) {
	api := e.Group("/compat/ivvy/api/1.0", web.UseRenderer(renderError), iVvyParameterErrors, s.authenticate)
	api.POST("/account", s.account)
	e.GET("/compat/ivvy/api-key", s.apiKey, web.UseRenderer(renderError), web.Authenticate(s.auth))

	sns := e.Group("/compat/ivvy/sns", web.UseRenderer(renderSNSError))
	sns.GET("", s.snsAction)
	sns.POST("", s.snsAction)
	sns.GET("/", s.snsAction)
	sns.POST("/", s.snsAction)
}

// SetSubscriptions replaces what the handlers use to reach subscriptions (tests).
func (s *Style) SetSubscriptions(subs Subscriptions) { s.subs = subs }

func (s *Style) account(c echo.Context) error {
	p := web.Principal(c)
	if p == nil || p.Credential == nil || !p.Credential.Primary {
		return fmt.Errorf("Not Allowed: notifications are managed with the account's primary API key: %w", engine.ErrForbidden)
	}
	if p.Credential.AccountID == "" {
		return fmt.Errorf("Not Allowed: this API key belongs to no account; issue it with an account_id: %w", engine.ErrForbidden)
	}
	switch action := c.QueryParam("action"); action {
	case "subscribeToNotifications":
		return s.subscribe(c, p)
	case "unsubscribeFromNotifications":
		return s.unsubscribe(c, p)
	case "":
		return &engine.ValidationError{Field: "action", Message: "is required: subscribeToNotifications or unsubscribeFromNotifications"}
	default:
		return echo.NewHTTPError(http.StatusNotImplemented, fmt.Sprintf("account?action=%s is not part of Switchyard's iVvy API; it serves subscribeToNotifications and unsubscribeFromNotifications", action))
	}
}

// endpoints returns the loaded plugin's endpoint keys, in the manifest's order, with the canonical
// event types each one carries.
func (s *Style) endpoints() ([]endpoint, error) {
	p, ok := s.engine.Plugins().Get(Format)
	if !ok {
		return nil, fmt.Errorf("the %s plugin is not loaded: %w", Format, engine.ErrUnavailable)
	}
	return endpointsOf(p.Manifest()), nil
}

type endpoint struct {
	Key    string // companiesEndpoint
	Prefix string // companies
	Types  []string
}

func endpointsOf(m sdk.Manifest) []endpoint {
	var out []endpoint
	index := map[string]int{}
	for _, e := range m.Events {
		if e.Group == "" {
			continue
		}
		i, ok := index[e.Group]
		if !ok {
			i = len(out)
			index[e.Group] = i
			out = append(out, endpoint{Key: e.Group, Prefix: strings.TrimSuffix(e.Group, "Endpoint")})
		}
		out[i].Types = append(out[i].Types, e.Type)
	}
	return out
}

// readRequest reads the body: endpoint keys to URLs. Unknown keys and values that are not strings
// are refused, naming the key.
func readRequest(c echo.Context, eps []endpoint) (map[string]string, error) {
	var raw map[string]any
	if err := web.Bind(c, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, &engine.ValidationError{Message: "the body must be a JSON object of endpoint keys and URLs"}
	}
	known := map[string]bool{}
	for _, ep := range eps {
		known[ep.Key] = true
	}
	out := map[string]string{}
	for k, v := range raw {
		if !known[k] {
			return nil, &engine.ValidationError{Field: k, Message: "is not a notification endpoint; use " + keysOf(eps)}
		}
		str, ok := v.(string)
		if !ok {
			return nil, &engine.ValidationError{Field: k, Message: "must be the URL of your receiver, as a string"}
		}
		out[k] = str
	}
	return out, nil
}

func keysOf(eps []endpoint) string {
	keys := make([]string, len(eps))
	for i, ep := range eps {
		keys[i] = ep.Key
	}
	return strings.Join(keys, ", ")
}

// current returns the caller's app's ivvy subscriptions to the credential's account, by endpoint.
func (s *Style) current(ctx context.Context, p *engine.Principal) (map[string]*engine.Subscription, error) {
	out := map[string]*engine.Subscription{}
	q := engine.SubscriptionQuery{AccountID: p.Credential.AccountID, Format: Format, Page: engine.Page{Limit: 200}}
	for {
		page, err := s.subs.List(ctx, p, q)
		if err != nil {
			return nil, err
		}
		for _, sub := range page {
			if key := sub.Options[ivvyplugin.OptionEndpoint]; key != "" && out[key] == nil {
				out[key] = sub
			}
		}
		if len(page) < q.Limit {
			return out, nil
		}
		q.After = page[len(page)-1].ID
	}
}

func (s *Style) subscribe(c echo.Context, p *engine.Principal) error {
	ctx := c.Request().Context()
	eps, err := s.endpoints()
	if err != nil {
		return err
	}
	req, err := readRequest(c, eps)
	if err != nil {
		return err
	}
	subs, err := s.current(ctx, p)
	if err != nil {
		return err
	}
	// Everything is checked before anything is written, so a refused call changes nothing.
	type change struct {
		ep      endpoint
		url     string
		replace *engine.Subscription
	}
	var changes []change
	for _, ep := range eps {
		url, ok := req[ep.Key]
		if !ok {
			continue
		}
		if err := s.subs.CheckURL(ctx, ep.Key, url); err != nil {
			return err
		}
		old := subs[ep.Key]
		switch {
		case old == nil:
			changes = append(changes, change{ep: ep, url: url})
		case old.CredentialID != p.Credential.ID:
			return fmt.Errorf("%s is subscribed with another API key; unsubscribe it with that key first: %w", ep.Key, engine.ErrConflict)
		case old.URL == url && old.State == engine.SubscriptionActive:
			// Already subscribed and confirmed: nothing to do.
		default:
			// A new URL, or a confirmation that is still awaited (and may have been lost): start
			// again, so the receiver is sent a fresh SubscriptionConfirmation.
			changes = append(changes, change{ep: ep, url: url, replace: old})
		}
	}
	for _, ch := range changes {
		if ch.replace != nil {
			if err := s.subs.Delete(ctx, p, ch.replace.ID); err != nil && !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("replace the %s subscription: %w", ch.ep.Key, err)
			}
		}
		sub, err := s.subs.Create(ctx, p, engine.NewSubscription{
			AccountID: p.Credential.AccountID, Format: Format, Events: ch.ep.Types, URL: ch.url,
			Options: map[string]string{ivvyplugin.OptionEndpoint: ch.ep.Key}, NoSecret: true,
		})
		if err != nil {
			return err
		}
		subs[ch.ep.Key] = sub
	}
	return c.JSON(http.StatusOK, s.statusMap(eps, subs))
}

// statusMap is iVvy's answer to a subscription: every endpoint's status and topic.
func (s *Style) statusMap(eps []endpoint, subs map[string]*engine.Subscription) *orderedJSON {
	out := &orderedJSON{}
	for _, ep := range eps {
		sub := subs[ep.Key]
		if sub == nil || sub.State == engine.SubscriptionDisabled {
			out.add(ep.Prefix+"Success", false)
			out.add(ep.Prefix+"TopicId", nil)
			continue
		}
		out.add(ep.Prefix+"Success", true)
		out.add(ep.Prefix+"TopicId", topicOf(sub))
	}
	return out
}

func (s *Style) unsubscribe(c echo.Context, p *engine.Principal) error {
	ctx := c.Request().Context()
	eps, err := s.endpoints()
	if err != nil {
		return err
	}
	req, err := readRequest(c, eps)
	if err != nil {
		return err
	}
	subs, err := s.current(ctx, p)
	if err != nil {
		return err
	}
	out := &orderedJSON{}
	for _, ep := range eps {
		out.add(ep.Prefix+"Result", s.unsubscribeOne(ctx, p, ep, req, subs))
	}
	return c.JSON(http.StatusOK, out)
}

// unsubscribeOne removes one endpoint's subscription and returns its result code. The endpoint key
// decides; the URL given with it is not compared, so a receiver that moved can still be removed.
func (s *Style) unsubscribeOne(ctx context.Context, p *engine.Principal, ep endpoint, req map[string]string, subs map[string]*engine.Subscription) int {
	if _, ok := req[ep.Key]; !ok {
		return ResultNotRequested
	}
	sub := subs[ep.Key]
	switch {
	case sub == nil:
		return ResultNotFound
	case sub.CredentialID != p.Credential.ID:
		return ResultWrongSource
	case sub.State == engine.SubscriptionPending:
		return ResultNotConfirmed
	}
	if err := s.subs.Delete(ctx, p, sub.ID); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return ResultNotFound
		}
		s.logger.Error("ivvy: unsubscribe", "subscription", sub.ID, "endpoint", ep.Key, "err", err)
		return ResultUnknownError
	}
	return ResultSuccess
}

func region(sub *engine.Subscription) string {
	if r := sub.Options[ivvyplugin.OptionRegion]; r != "" {
		return r
	}
	return ivvyplugin.DefaultRegion
}

func topicOf(sub *engine.Subscription) string {
	return ivvyplugin.TopicArn(region(sub), sub.AccountID, sub.AppID, sub.Options[ivvyplugin.OptionEndpoint])
}
