// Package host is QuicklySign's subscription API on Switchyard, under /compat/quicklysign,
// so that integrator code written against QuicklySign works against Switchyard by changing its
// base URL alone:
//
//	POST   /v0/subscriptions                      {client_id, client_secret, subscription: {entity_key, callback}}
//	GET    /v0/subscriptions/{key}                ?client_id=&client_secret=
//	GET    /v0/subscriptions?entity_key=...       ?client_id=&client_secret=  (entity_key optional)
//	DELETE /v0/subscriptions/{key}                ?client_id=&client_secret=
//	DELETE /v0/subscriptions?entity_key=...       ?client_id=&client_secret=
//	GET    /v0/subscriptions/{key}/callbacks      the callback log, newest first
//
// and the same under /v1/webhooks, where QuicklySign's v1 renamed subscriptions to webhooks: the
// body's object is "webhook", answers carry "webhook" objects with a webhook_key, and callbacks to
// a webhook name their key webhook_key.
//
// A subscription here is a Switchyard subscription in the quicklysign format, limited to one
// document (its entity_key) and listening to the three document events the plugin's manifest
// names; its key is the Switchyard subscription ID. client_id and client_secret are a Switchyard
// credential of kind client. A client credential bound to an account subscribes for that account
// and sees only that account's subscriptions of its app. An unbound one speaks for its whole app:
// it may read and remove the app's QuicklySign subscriptions in every account, but may not create
// one, because QuicklySign's API has no field to say which account a document belongs to, and
// guessing could deliver one tenant's document events to another's integrator.
//
// v0 subscriptions and v1 webhooks are kept apart, as QuicklySign's two API versions are: each
// subscription records the version it was made through (the plugin's "api" option, v0 when unset),
// and each version's calls see, find and remove only its own.
//
// A subscription's callback log outlives it: QuicklySign keeps callback logs while the document
// exists, so the store keeps a deleted subscription's log (store.DeletedSubscription) and
// GET .../{key}/callbacks serves it until the attempts' retention ends; the style's purge job then
// removes it.
package host

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	plugin "github.com/switchyard/switchyard/plugins/quicklysign"
	"github.com/switchyard/switchyard/plugins/quicklysign/store"
)

// Prefix is where the compatible API is served.
const Prefix = "/compat/quicklysign"

const (
	maxPage             = 200
	defaultCallbackPage = 50
	// excerptChars is how much of each response body the callback log shows.
	excerptChars = 500
)

// flavor is one of QuicklySign's API versions: the same calls under other names.
type flavor struct {
	api    string // the subscription option plugin.OptionAPI
	path   string
	object string // the object in request and answer bodies
	plural string // the list in answers
	// keyField, when set, repeats the key under this name in answers.
	keyField string
}

var (
	v0 = flavor{api: plugin.APIv0, path: "/v0/subscriptions", object: "subscription", plural: "subscriptions"}
	v1 = flavor{api: plugin.APIv1, path: "/v1/webhooks", object: "webhook", plural: "webhooks", keyField: "webhook_key"}
)

type handler struct {
	eng   *engine.Engine
	auth  engine.Authenticator
	store store.Store
	flavor
}

// Style is the QuicklySign style of one node: its compatible API.
type Style struct {
	eng   *engine.Engine
	auth  engine.Authenticator
	store store.Store
}

var (
	_ web.Routed            = (*Style)(nil)
	_ engine.ScheduledStyle = (*Style)(nil)
)

// Jobs purge the kept callback logs of deleted subscriptions by the engine's attempt retention, as
// the engine purges the attempts of live ones.
func (s *Style) Jobs() []*engine.Job {
	return []*engine.Job{{Name: "quicklysign-purge-deleted-logs", Spec: "@every 1h", Run: func(ctx context.Context, now time.Time) error {
		_, err := s.store.PurgeDeleted(ctx, now.Add(-s.eng.AttemptRetention()))
		return err
	}}}
}

// New returns the style over its store.
func New(d engine.StyleDeps, st store.Store) (*Style, error) {
	return &Style{eng: d.Engine, auth: d.Auth, store: st}, nil
}

// Name is the style's name, and its plugin's.
func (s *Style) Name() string { return plugin.Name }

// Routes installs the QuicklySign routes.
func (s *Style) Routes(e *echo.Echo) {
	g := e.Group(Prefix, web.UseRenderer(renderError))
	for _, f := range []flavor{v0, v1} {
		h := &handler{eng: s.eng, auth: s.auth, store: s.store, flavor: f}
		routes := []struct {
			path     string
			handlers map[string]echo.HandlerFunc
		}{
			{f.path, map[string]echo.HandlerFunc{http.MethodPost: h.create, http.MethodGet: h.list, http.MethodDelete: h.deleteByEntity}},
			{f.path + "/", map[string]echo.HandlerFunc{http.MethodPost: h.create, http.MethodGet: h.list, http.MethodDelete: h.deleteByEntity}},
			{f.path + "/:key", map[string]echo.HandlerFunc{http.MethodGet: h.get, http.MethodDelete: h.delete}},
			{f.path + "/:key/callbacks", map[string]echo.HandlerFunc{http.MethodGet: h.callbacks}},
		}
		for _, r := range routes {
			var allowed []string
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
				if _, has := r.handlers[m]; has {
					allowed = append(allowed, m)
				}
			}
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				if handle, has := r.handlers[m]; has {
					g.Add(m, r.path, handle)
				} else {
					// Without this the group's catch-all would answer 404 to a known path.
					g.Add(m, r.path, methodNotAllowed(allowed))
				}
			}
		}
	}
}

func methodNotAllowed(allowed []string) echo.HandlerFunc {
	allow := strings.Join(allowed, ", ")
	return func(c echo.Context) error {
		c.Response().Header().Set("Allow", allow)
		return echo.NewHTTPError(http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here; use %s", c.Request().Method, allow))
	}
}

// caller is an authenticated client and the subscriptions it may see.
type caller struct {
	p *engine.Principal
	// account is the client's account, or "" for a client of the whole app.
	account string
}

func (cl caller) sees(s *engine.Subscription) bool {
	return s.Format == plugin.Name && s.AppID == cl.p.App.ID && (cl.account == "" || s.AccountID == cl.account)
}

// own says whether a subscription the caller sees was made through this handler's API version.
func (h *handler) own(cl caller, s *engine.Subscription) bool { return cl.sees(s) && apiOf(s) == h.api }

// authenticate resolves client_id and client_secret: from the body when it has them (POST), else
// from the query string.
func (h *handler) authenticate(c echo.Context, clientID, clientSecret string) (caller, error) {
	if clientID == "" {
		clientID = c.QueryParam("client_id")
	}
	if clientSecret == "" {
		clientSecret = c.QueryParam("client_secret")
	}
	p, err := h.auth.Client(c.Request().Context(), clientID, clientSecret)
	if err != nil {
		return caller{}, err
	}
	if p.Credential == nil || p.Credential.Kind != engine.CredentialClient || p.App == nil {
		return caller{}, fmt.Errorf("client_id and client_secret must be a client credential: %w", engine.ErrUnauthorized)
	}
	return caller{p: p, account: p.Credential.AccountID}, nil
}

type createBody struct {
	ClientID     string            `json:"client_id"`
	ClientSecret string            `json:"client_secret"`
	Always200    flexBool          `json:"always_use_http_status_code_200"`
	Subscription *subscriptionBody `json:"subscription"`
	Webhook      *subscriptionBody `json:"webhook"`
}

type subscriptionBody struct {
	EntityKey string `json:"entity_key"`
	Callback  string `json:"callback"`
}

func (h *handler) create(c echo.Context) error {
	var body createBody
	err := decodeBody(c, &body)
	if body.Always200 {
		c.Set(always200Key, true)
	}
	if err != nil {
		return err
	}
	cl, err := h.authenticate(c, body.ClientID, body.ClientSecret)
	if err != nil {
		return err
	}
	if cl.account == "" {
		return fmt.Errorf("client %s is not bound to an account, and QuicklySign subscriptions are made for the account of the client that asks; use a client credential issued with an account_id: %w",
			cl.p.Credential.ClientID, engine.ErrForbidden)
	}
	in := body.Subscription
	if h.object == v1.object {
		in = body.Webhook
	}
	switch {
	case in == nil:
		return &engine.ValidationError{Field: h.object, Message: fmt.Sprintf("is required: {%q: {\"entity_key\": ..., \"callback\": ...}}", h.object)}
	case in.EntityKey == "":
		return &engine.ValidationError{Field: h.object + ".entity_key", Message: "is required: the key of the document to subscribe to"}
	case in.Callback == "":
		return &engine.ValidationError{Field: h.object + ".callback", Message: "is required: the URL callbacks are posted to"}
	}
	events, err := documentEvents(h.eng)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// Subscribing twice to the same document with the same callback gives the same subscription,
	// so a receiver never gets each callback twice because its code subscribed twice.
	same, err := h.eng.ListSubscriptions(ctx, cl.p, engine.SubscriptionQuery{
		AccountID: cl.account, Format: plugin.Name, EntityKey: in.EntityKey, URL: in.Callback, Page: engine.Page{Limit: maxPage},
	})
	if err != nil {
		return err
	}
	for _, s := range same {
		if s.State == engine.SubscriptionActive && apiOf(s) == h.api {
			return ok(c, map[string]any{h.object: h.render(s)})
		}
	}
	s, err := h.eng.CreateSubscription(ctx, cl.p, engine.NewSubscription{
		AccountID: cl.account, Format: plugin.Name, Events: events, EntityKey: in.EntityKey, URL: in.Callback,
		Options: map[string]string{plugin.OptionAPI: h.api}, NoSecret: true,
	})
	if err != nil {
		return h.vendorFields(err)
	}
	return ok(c, map[string]any{h.object: h.render(s)})
}

// vendorFields renames the engine's fields in a validation error to the ones the caller sent.
func (h *handler) vendorFields(err error) error {
	var ve *engine.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	switch ve.Field {
	case "url":
		return &engine.ValidationError{Field: h.object + ".callback", Message: ve.Message}
	case "entity_key":
		return &engine.ValidationError{Field: h.object + ".entity_key", Message: ve.Message}
	}
	return err
}

// documentEvents are the canonical events a QuicklySign subscription listens to: every one the
// plugin's manifest names.
func documentEvents(eng *engine.Engine) ([]string, error) {
	p, loaded := eng.Plugins().Get(plugin.Name)
	if !loaded {
		return nil, fmt.Errorf("the %s plugin is not loaded on this server: %w", plugin.Name, engine.ErrUnavailable)
	}
	var events []string
	for _, e := range p.Manifest().Events {
		events = append(events, e.Type)
	}
	return events, nil
}

func apiOf(s *engine.Subscription) string {
	if s.Options[plugin.OptionAPI] == plugin.APIv1 {
		return plugin.APIv1
	}
	return plugin.APIv0
}

// find returns the caller's subscription by key; another app's, another account's or another
// format's is not found, exactly as a key that does not exist.
func (h *handler) find(ctx context.Context, cl caller, key string) (*engine.Subscription, error) {
	notFound := fmt.Errorf("no %s with key %q: %w", h.object, key, engine.ErrNotFound)
	s, err := h.eng.GetSubscription(ctx, cl.p, key)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && !h.own(cl, s)) {
		return nil, notFound
	}
	return s, err
}

// listOwn returns up to limit of the caller's subscriptions of this API version after the ID
// after, to the document entity when it is set. The engine does not filter by option, so pages
// of the caller's subscriptions are read until limit of this version are found; a caller has a
// bounded number of subscriptions (one per document and callback).
func (h *handler) listOwn(ctx context.Context, cl caller, entity, after string, limit int) ([]*engine.Subscription, error) {
	var out []*engine.Subscription
	for {
		page, err := h.eng.ListSubscriptions(ctx, cl.p, engine.SubscriptionQuery{
			AccountID: cl.account, Format: plugin.Name, EntityKey: entity, Page: engine.Page{After: after, Limit: maxPage},
		})
		if err != nil {
			return nil, err
		}
		for _, s := range page {
			if h.own(cl, s) {
				out = append(out, s)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(page) < maxPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

func (h *handler) get(c echo.Context) error {
	cl, err := h.authenticate(c, "", "")
	if err != nil {
		return err
	}
	s, err := h.find(c.Request().Context(), cl, c.Param("key"))
	if err != nil {
		return err
	}
	return ok(c, map[string]any{h.object: h.render(s)})
}

func (h *handler) list(c echo.Context) error {
	cl, err := h.authenticate(c, "", "")
	if err != nil {
		return err
	}
	limit, err := limitOf(c, maxPage)
	if err != nil {
		return err
	}
	subs, err := h.listOwn(c.Request().Context(), cl, c.QueryParam("entity_key"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	data := map[string]any{h.plural: h.renderAll(subs)}
	if len(subs) == limit {
		data["next_cursor"] = subs[len(subs)-1].ID
	}
	return ok(c, data)
}

func (h *handler) delete(c echo.Context) error {
	cl, err := h.authenticate(c, "", "")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	s, err := h.find(ctx, cl, c.Param("key"))
	if err != nil {
		return err
	}
	if _, err := h.eng.DeleteSubscription(ctx, cl.p, s.ID); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("no %s with key %q: %w", h.object, s.ID, engine.ErrNotFound)
		}
		return err
	}
	return ok(c, map[string]any{h.object: h.render(s)})
}

// deleteByEntity removes every subscription the caller has to one document and returns them; none
// is not an error, as the document then has none, which is what was asked.
func (h *handler) deleteByEntity(c echo.Context) error {
	cl, err := h.authenticate(c, "", "")
	if err != nil {
		return err
	}
	entity := c.QueryParam("entity_key")
	if entity == "" {
		return &engine.ValidationError{Field: "entity_key", Message: fmt.Sprintf("is required: the document whose %s to remove (one %s is removed with DELETE %s/{key})", h.plural, h.object, h.path)}
	}
	ctx := c.Request().Context()
	// Only this API version's: DELETE /v0/subscriptions?entity_key= leaves the document's v1
	// webhooks, and the other way round.
	found, err := h.listOwn(ctx, cl, entity, "", math.MaxInt)
	if err != nil {
		return err
	}
	removed := make([]*engine.Subscription, 0, len(found))
	for _, s := range found {
		_, err := h.eng.DeleteSubscription(ctx, cl.p, s.ID)
		if errors.Is(err, engine.ErrNotFound) {
			continue // removed meanwhile by another call
		}
		if err != nil {
			return err
		}
		removed = append(removed, s)
	}
	return ok(c, map[string]any{h.plural: h.renderAll(removed)})
}

func (h *handler) callbacks(c echo.Context) error {
	cl, err := h.authenticate(c, "", "")
	if err != nil {
		return err
	}
	limit, err := limitOf(c, defaultCallbackPage)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	key := c.Param("key")
	deleted := false
	s, err := h.find(ctx, cl, key)
	if errors.Is(err, engine.ErrNotFound) {
		// A deleted subscription's log is kept: serve it to whoever could read it before.
		gone, gerr := h.store.DeletedSubscription(ctx, key)
		switch {
		case errors.Is(gerr, engine.ErrNotFound):
			return err
		case gerr != nil:
			return gerr
		case gone.AppID != cl.p.App.ID || (cl.account != "" && gone.AccountID != cl.account) || gone.API != h.api:
			return err
		}
		s, deleted, err = &engine.Subscription{ID: gone.ID}, true, nil
	}
	if err != nil {
		return err
	}
	log, err := h.store.ListCallbacks(ctx, store.CallbackQuery{SubscriptionID: s.ID, Deleted: deleted, Before: c.QueryParam("cursor"), Limit: limit, ExcerptChars: excerptChars})
	if err != nil {
		return err
	}
	names := map[string]string{}
	if p, loaded := h.eng.Plugins().Get(plugin.Name); loaded {
		m := p.Manifest()
		for _, e := range m.Events {
			names[e.Type] = e.Name
		}
	}
	out := make([]callbackJSON, len(log))
	for i, cb := range log {
		out[i] = renderCallback(cb, names)
	}
	data := map[string]any{"callbacks": out}
	if len(log) == limit {
		data["next_cursor"] = log[len(log)-1].Delivery.ID
	}
	return ok(c, data)
}

func limitOf(c echo.Context, def int) (int, error) {
	raw := c.QueryParam("limit")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxPage {
		return 0, &engine.ValidationError{Field: "limit", Message: fmt.Sprintf("must be a number from 1 to %d", maxPage)}
	}
	return n, nil
}

// subscriptionJSON is QuicklySign's subscription object, its fields in the document's order.
// Times are unix milliseconds. subscriber_key is null, as in every example QuicklySign gives.
type subscriptionJSON struct {
	EntityKey     string  `json:"entity_key"`
	DateUpdated   int64   `json:"date_updated"`
	SubscriberKey *string `json:"subscriber_key"`
	Callback      string  `json:"callback"`
	Key           string  `json:"key"`
	// WebhookKey repeats Key for v1, which says it returns a webhook_key wherever v0 returned
	// a subscription key; code reading either name finds it.
	WebhookKey  string `json:"webhook_key,omitempty"`
	DateCreated int64  `json:"date_created"`
}

func (h *handler) render(s *engine.Subscription) subscriptionJSON {
	out := subscriptionJSON{
		EntityKey: s.EntityKey, DateUpdated: s.UpdatedAt.UnixMilli(), Callback: s.URL, Key: s.ID,
		DateCreated: s.CreatedAt.UnixMilli(),
	}
	if h.keyField != "" {
		out.WebhookKey = s.ID
	}
	return out
}

func (h *handler) renderAll(subs []*engine.Subscription) []subscriptionJSON {
	out := make([]subscriptionJSON, len(subs))
	for i, s := range subs {
		out[i] = h.render(s)
	}
	return out
}

// callbackJSON is one delivery in the callback log.
type callbackJSON struct {
	Key           string `json:"key"`
	CallbackEvent string `json:"callback_event"`
	EntityKey     string `json:"entity_key"`
	// Status is the delivery's state: pending, in_flight, succeeded, failed or dead.
	Status       string `json:"status"`
	AttemptCount int    `json:"attempt_count"`
	// NextAttempt is when a pending delivery is tried next.
	NextAttempt *int64        `json:"next_attempt,omitempty"`
	DateCreated int64         `json:"date_created"`
	Attempts    []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	Number int   `json:"number"`
	Date   int64 `json:"date"`
	// StatusCode is 0 when no answer came (the connection failed, or timed out).
	StatusCode int    `json:"status_code"`
	Response   string `json:"response"`
	Outcome    string `json:"outcome"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

func renderCallback(cb *store.Callback, names map[string]string) callbackJSON {
	d := cb.Delivery
	out := callbackJSON{
		Key: d.ID, CallbackEvent: names[cb.EventType], EntityKey: cb.EntityID, Status: string(d.State),
		AttemptCount: d.Attempts, DateCreated: d.CreatedAt.UnixMilli(), Attempts: make([]attemptJSON, len(cb.Attempts)),
	}
	if out.CallbackEvent == "" {
		out.CallbackEvent = cb.EventType
	}
	if d.State == engine.DeliveryPending {
		next := d.NextAttemptAt.UnixMilli()
		out.NextAttempt = &next
	}
	for i, a := range cb.Attempts {
		out.Attempts[i] = attemptJSON{
			Number: a.Number, Date: a.StartedAt.UnixMilli(), StatusCode: a.ResponseStatus, Response: a.ResponseBody,
			Outcome: a.Outcome, Error: a.Error, DurationMS: a.DurationMS,
		}
	}
	return out
}
