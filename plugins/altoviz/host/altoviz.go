// Package host is the Altoviz style on the node: the Altoviz-compatible webhook API. Code written
// against Altoviz's /v1/webhooks registers, lists and removes webhooks against Switchyard by
// changing only its base URL (to <node>/compat/altoviz), and receives calls shaped by the altoviz
// plugin (plugins/altoviz).
//
//	POST   /compat/altoviz/v1/webhooks           {name, types, url, secretKey} -> 201 the webhook
//	                                             (200 when it rotates a registered webhook's key)
//	GET    /compat/altoviz/v1/webhooks           -> 200 [webhook, ...]
//	DELETE /compat/altoviz/v1/webhooks?url=...   (or ?id=...) -> 200 the removed webhook
//
// A webhook is {"id": <integer>, "name", "types": ["CustomerCreated", ...], "url", "secretKey"}.
// Every subscription in the altoviz format is a webhook: one made through the native API gets its
// integer id (and a place in the list, with an empty name) the first time the list, a registration,
// a removal or a delivery looks at it, so its calls carry a webhook id like the others'. Each
// call's "id" is that webhook id, as a string ("1233"); the delivery's id is in X-DELIVERY-ID.
// An owner has one webhook per url. Registering a url again with the same name and types and a new
// secretKey rotates that webhook's key (200, the same webhook): X-SIGNATURE is made with the new
// key at once, and for a day X-SIGNATURE-PREVIOUS with the old one (see plugins/altoviz); a webhook
// registered without a key gets one, with nothing to overlap. Any other registration of a url
// already registered is refused. The native POST /v1/subscriptions/{id}/rotate-secret rotates a
// webhook's key too, with the overlap it is given, and generates the key when it is given none.
//
// The path's last segment may be spelled Webhooks, as the vendor's document does for listing; any
// spelling of the path's case, and a trailing slash, is accepted, as ASP.NET routing does.
//
// The caller presents x-api-key: a Switchyard credential of kind api_key. An Altoviz API key belongs
// to one Altoviz company, so the credential must be bound to an account (issued with account_id):
// its webhooks subscribe to that account's events. The owner of a webhook is the key's app within
// that account, so every key the operator issues to one app for one company sees the same webhooks
// (a rotated key keeps managing what the old one registered), and no other app's key, nor a key for
// another company, ever sees or removes them.
//
// Errors: invalid input is 400 {"errors": [{"field", "message"}], "message"}; every other error is
// an RFC 9457 problem-details object {type, title, status, detail, instance}.
package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/altoviz"
	"github.com/switchyard/switchyard/plugins/altoviz/store"
	"github.com/switchyard/switchyard/sdk"
)

const (
	// Format is the plugin that shapes this style's deliveries.
	Format = "altoviz"
	// Prefix is the base URL an integrator's code points at, in place of https://api.altoviz.com.
	Prefix       = "/compat/altoviz"
	webhooksPath = Prefix + "/v1/webhooks"

	// maxWebhooks bounds one owner's webhooks; with one webhook per URL it is generous.
	maxWebhooks = 100
	maxNameLen  = 200
	// rotationOverlap is how long a key replaced by registering its webhook's url again keeps
	// signing, in X-SIGNATURE-PREVIOUS: Altoviz's registration has no field to choose it, so it is
	// the native rotate-secret call's default, a day for a receiver to switch to the new key.
	rotationOverlap = 24 * time.Hour
	// maxSecretKeyLen is below the engine's limit on a subscription's secret, so that a key too
	// long is refused in this API's format.
	maxSecretKeyLen = 256
)

// Style is the Altoviz style of one node: its compatible API over its webhooks' store.
type Style struct{ h *handler }

var (
	_ web.Routed         = (*Style)(nil)
	_ engine.HookedStyle = (*Style)(nil)
)

// New returns the style over its store.
func New(d engine.StyleDeps, st store.Store) (*Style, error) {
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Style{h: &handler{engine: d.Engine, auth: d.Auth, store: st, logger: logger}}, nil
}

// Name is the style's name, and its plugin's.
func (s *Style) Name() string { return Format }

// Hooks hands the plugin each delivery's webhook id, which its call carries as "id".
func (s *Style) Hooks() engine.StyleHooks {
	return engine.StyleHooks{Prepare: s.h.prepare}
}

// prepare finds (or, for a subscription made through the native API, gives) the webhook id of a
// delivery's subscription.
func (h *handler) prepare(ctx context.Context, w *engine.Work, _ *engine.DeliveryURLs) (json.RawMessage, error) {
	hook, err := h.store.WebhookOf(ctx, w.Subscription)
	if err != nil {
		return nil, fmt.Errorf("the altoviz webhook id of subscription %s: %w", w.Subscription.ID, err)
	}
	return json.Marshal(altoviz.State{WebhookID: hook.ID})
}

// Routes installs the compatible API.
func (s *Style) Routes(e *echo.Echo) {
	h := s.h
	e.Pre(pre)
	g := e.Group(Prefix+"/v1", h.authenticate)
	// Any first: the three methods below replace it, and the rest get a 405 in this API's format.
	g.Any("/webhooks", methodNotAllowed)
	g.POST("/webhooks", h.create)
	g.GET("/webhooks", h.list)
	g.DELETE("/webhooks", h.remove)
}

// pre runs before routing, for every path under Prefix: errors there render in Altoviz's formats
// even when they happen before this style's routes are reached (a body over the node's limit, an
// unknown path), and every spelling of the webhooks path (Webhooks, WEBHOOKS, a trailing slash)
// reaches one route, as the vendor's case-insensitive routing does.
func pre(next echo.HandlerFunc) echo.HandlerFunc {
	styled := web.UseRenderer(render)(next)
	return func(c echo.Context) error {
		u := c.Request().URL
		if len(u.Path) < len(Prefix)+1 || !strings.EqualFold(u.Path[:len(Prefix)+1], Prefix+"/") {
			return next(c)
		}
		if u.Path != webhooksPath && strings.EqualFold(strings.TrimSuffix(u.Path, "/"), webhooksPath) {
			u.Path, u.RawPath = webhooksPath, ""
		}
		return styled(c)
	}
}

func methodNotAllowed(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAllow, "GET, POST, DELETE")
	return echo.NewHTTPError(http.StatusMethodNotAllowed, c.Request().Method+" is not allowed here; use GET, POST or DELETE")
}

type handler struct {
	engine *engine.Engine
	auth   engine.Authenticator
	store  store.Store
	logger *slog.Logger
}

// authenticate admits an API key bound to an account, from x-api-key only: that is the one
// header Altoviz's clients send.
func (h *handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := strings.TrimSpace(c.Request().Header.Get("x-api-key"))
		if key == "" {
			return fmt.Errorf("the x-api-key header is missing: %w", engine.ErrUnauthorized)
		}
		p, err := h.auth.Token(c.Request().Context(), key)
		if err != nil {
			return err
		}
		if p.Admin || p.Credential == nil || p.Credential.Kind != engine.CredentialAPIKey {
			return fmt.Errorf("x-api-key must be an API key issued to an app: %w", engine.ErrUnauthorized)
		}
		// The key is genuine and the caller known, but it cannot be used here until the operator
		// binds a key to a company: a matter of permission, not of identity, hence 403, not 401.
		if p.Credential.AccountID == "" {
			return fmt.Errorf("this API key belongs to no account; an Altoviz API key belongs to one company, "+
				"so ask the operator for a key issued with an account_id: %w", engine.ErrForbidden)
		}
		web.SetPrincipal(c, p)
		return next(c)
	}
}

// manifest is the loaded altoviz plugin's manifest, the one place its type names live. Read per
// request, because a plugin can be replaced while the node runs.
func (h *handler) manifest() (*sdk.Manifest, error) {
	p, ok := h.engine.Plugins().Get(Format)
	if !ok {
		return nil, fmt.Errorf("the %s format is not loaded on this node: %w", Format, engine.ErrUnavailable)
	}
	m := p.Manifest()
	return &m, nil
}

// webhookIn is a registration. Field names match case-insensitively (secretkey too), and unknown
// fields are ignored, as ASP.NET's JSON input does.
type webhookIn struct {
	Name      string   `json:"name"`
	Types     []string `json:"types"`
	URL       string   `json:"url"`
	SecretKey string   `json:"secretKey"`
}

// webhookOut is Altoviz's webhook object.
type webhookOut struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	Types []string `json:"types"`
	URL   string   `json:"url"`
	// SecretKey is echoed to the registration that set it and is null everywhere else: a secret is
	// shown once, as the native API does, so that every holder of the company's key cannot read it
	// back from the list.
	SecretKey *string `json:"secretKey"`
}

func (h *handler) create(c echo.Context) error {
	ctx := c.Request().Context()
	p := web.Principal(c)
	m, err := h.manifest()
	if err != nil {
		return err
	}
	var in webhookIn
	if err := decode(c, &in); err != nil {
		return err
	}
	events, names, err := h.check(ctx, m, &in)
	if err != nil {
		return err
	}
	owner := store.WebhookQuery{AppID: p.App.ID, AccountID: p.Credential.AccountID}
	// A subscription the native API made to this url is a webhook too, and the url is taken.
	if _, err := h.adopt(ctx, p); err != nil {
		return err
	}
	byURL := owner
	byURL.URL = in.URL
	for tries := 1; ; tries++ {
		w, err := h.store.FindWebhook(ctx, byURL)
		if errors.Is(err, engine.ErrNotFound) {
			break
		}
		if err != nil {
			return err
		}
		err = h.reregister(c, m, w, &in, names)
		// A webhook whose subscription went meanwhile was a racing registration's that lost (adopt
		// had given its subscription one): it went with the subscription. Look again.
		if !errors.Is(err, errWebhookGone) || tries == 3 {
			return err
		}
	}
	if err := h.checkRoom(ctx, owner); err != nil {
		return err
	}

	sub, err := h.engine.CreateSubscription(ctx, p, engine.NewSubscription{
		AccountID: owner.AccountID, Format: Format, Events: events, URL: in.URL,
		Secret: in.SecretKey, NoSecret: true,
	})
	if err != nil {
		return fmt.Errorf("register webhook: %w", err)
	}
	w := &store.Webhook{SubscriptionID: sub.ID, AppID: sub.AppID, AccountID: sub.AccountID, Name: in.Name, CreatedAt: sub.CreatedAt}
	if err := h.store.CreateWebhook(ctx, store.CreateWebhookParams{Webhook: w, URL: in.URL, Max: maxWebhooks}); err != nil {
		// The subscription must not outlive its failed registration, or it would deliver to a
		// webhook nobody can see; the request may be gone, the cleanup must still happen.
		if _, derr := h.engine.DeleteSubscription(context.WithoutCancel(ctx), p, sub.ID); derr != nil {
			h.logger.Error("remove the subscription of a failed altoviz registration", "subscription", sub.ID, "err", derr)
		}
		// Another registration won a race the check above could not see.
		switch {
		case errors.Is(err, store.ErrURLTaken):
			return invalid("url", "a webhook is already registered for this url; remove it first, or register another url")
		case errors.Is(err, store.ErrTooMany):
			return invalid("url", fmt.Sprintf("this company has %d webhooks, the most allowed; remove one first", maxWebhooks))
		}
		return fmt.Errorf("register webhook: %w", err)
	}
	out := webhookOut{ID: w.ID, Name: w.Name, Types: names, URL: sub.URL}
	if in.SecretKey != "" {
		out.SecretKey = &in.SecretKey
	}
	return c.JSON(http.StatusCreated, out)
}

// check validates a registration and turns its types into canonical event types. It reports every
// problem with the input at once, as an invalidInput.
func (h *handler) check(ctx context.Context, m *sdk.Manifest, in *webhookIn) (events, names []string, err error) {
	var problems invalidInput
	if len(in.Name) > maxNameLen {
		problems = append(problems, fieldError{"name", fmt.Sprintf("is at most %d characters", maxNameLen)})
	}
	if len(in.Types) == 0 {
		problems = append(problems, fieldError{"types", "list at least one webhook type, such as CustomerCreated; the types are " + strings.Join(typeNames(m), ", ")})
	} else {
		var unknown []string
		events, names, unknown = canonicalTypes(m, in.Types)
		if len(unknown) > 0 {
			what := "is not a webhook type"
			if len(unknown) > 1 {
				what = "are not webhook types"
			}
			problems = append(problems, fieldError{"types", fmt.Sprintf("%s %s; the types are %s",
				strings.Join(unknown, ", "), what, strings.Join(typeNames(m), ", "))})
		}
	}
	if in.URL == "" {
		problems = append(problems, fieldError{"url", "is required"})
	} else if err := h.engine.CheckURL(ctx, "url", in.URL); err != nil {
		var ve *engine.ValidationError
		if !errors.As(err, &ve) {
			// Not the integrator's mistake (a resolver failing, say): not a 400.
			return nil, nil, fmt.Errorf("check url: %w", err)
		}
		problems = append(problems, fieldError{"url", publicURLMessage(ve.Message)})
	}
	if len(in.SecretKey) > maxSecretKeyLen {
		problems = append(problems, fieldError{"secretKey", fmt.Sprintf("is at most %d characters", maxSecretKeyLen)})
	}
	if len(problems) > 0 {
		return nil, nil, problems
	}
	return events, names, nil
}

// publicURLMessage adds the vendor's own advice to the SSRF guard's reason for refusing a URL.
func publicURLMessage(reason string) string {
	if strings.Contains(reason, "not allowed") {
		return "must be public and reachable from this server; localhost and private networks are refused (" + reason + ")"
	}
	return reason
}

// checkRoom refuses, before anything is stored, one webhook over the limit; CreateWebhook
// checks it again in its transaction, with the url's.
func (h *handler) checkRoom(ctx context.Context, owner store.WebhookQuery) error {
	all, err := h.store.ListWebhooks(ctx, owner.AppID, owner.AccountID)
	if err != nil {
		return err
	}
	if len(all) >= maxWebhooks {
		return invalid("url", fmt.Sprintf("this company has %d webhooks, the most allowed; remove one first", len(all)))
	}
	return nil
}

// errWebhookGone is a conflict: the webhook found for a url lost its subscription meanwhile.
var errWebhookGone = fmt.Errorf("%w", engine.ErrConflict)

// reregister answers a registration of a url the owner already has webhook w for. One with w's
// name and types and another secretKey rotates w's key, keeping the previous one signing for
// rotationOverlap: Altoviz's API has no other call that could change a key, and removing the
// webhook to register it again would lose the calls in between and switch keys with no overlap.
// Any other registration of the url is refused, as it always was, rather than silently changing
// what w sends.
func (h *handler) reregister(c echo.Context, m *sdk.Manifest, w *store.Webhook, in *webhookIn, names []string) error {
	ctx := c.Request().Context()
	p := web.Principal(c)
	sub, err := h.engine.GetSubscription(ctx, p, w.SubscriptionID)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("webhook %d was removed while this registration ran; register again: %w", w.ID, errWebhookGone)
		}
		return err
	}
	if in.SecretKey == "" || in.Name != w.Name || !sameNames(names, vendorNames(m, sub.Events)) {
		return invalid("url", fmt.Sprintf("a webhook (%d) is already registered for this url; remove it first, register another url, "+
			"or register it again with the same name and types and a new secretKey to rotate its key", w.ID))
	}
	rotated, err := h.engine.RotateSecret(ctx, p, sub.ID, engine.SecretRotation{Secret: in.SecretKey, Overlap: engine.Duration(rotationOverlap)})
	if err != nil {
		var ve *engine.ValidationError
		if errors.As(err, &ve) && ve.Field == "secret" {
			return invalid("secretKey", ve.Message)
		}
		return fmt.Errorf("rotate the secret key of webhook %d: %w", w.ID, err)
	}
	return c.JSON(http.StatusOK, webhookOut{ID: w.ID, Name: w.Name, Types: vendorNames(m, rotated.Events), URL: rotated.URL, SecretKey: &in.SecretKey})
}

// sameNames reports whether two lists hold the same type names, in any order.
func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func (h *handler) list(c echo.Context) error {
	ctx := c.Request().Context()
	p := web.Principal(c)
	m, err := h.manifest()
	if err != nil {
		return err
	}
	subs, err := h.adopt(ctx, p)
	if err != nil {
		return err
	}
	hooks, err := h.store.ListWebhooks(ctx, p.App.ID, p.Credential.AccountID)
	if err != nil {
		return err
	}
	out := make([]webhookOut, 0, len(hooks))
	for _, w := range hooks {
		// A subscription deleted after the webhooks were read takes its webhook with it.
		if s, ok := subs[w.SubscriptionID]; ok {
			out = append(out, view(m, w, s))
		}
	}
	return c.JSON(http.StatusOK, out)
}

// adopt gives every subscription of the owner in this format a webhook, so that one made through
// the native API has an id and is listed and removed as if registered here, and returns the
// subscriptions by id.
func (h *handler) adopt(ctx context.Context, p *engine.Principal) (map[string]*engine.Subscription, error) {
	subs := map[string]*engine.Subscription{}
	q := engine.SubscriptionQuery{AccountID: p.Credential.AccountID, Format: Format, Page: engine.Page{Limit: 200}}
	for {
		page, err := h.engine.ListSubscriptions(ctx, p, q)
		if err != nil {
			return nil, err
		}
		for _, s := range page {
			subs[s.ID] = s
		}
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].ID
	}
	hooks, err := h.store.ListWebhooks(ctx, p.App.ID, p.Credential.AccountID)
	if err != nil {
		return nil, err
	}
	has := make(map[string]bool, len(hooks))
	for _, w := range hooks {
		has[w.SubscriptionID] = true
	}
	var missing []*engine.Subscription
	for id, s := range subs {
		if !has[id] {
			missing = append(missing, s)
		}
	}
	// Oldest first, so that ids follow the order the subscriptions were made in.
	slices.SortFunc(missing, func(a, b *engine.Subscription) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, s := range missing {
		// One deleted since it was listed has nothing to adopt.
		if _, err := h.store.WebhookOf(ctx, s); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return nil, fmt.Errorf("give subscription %s a webhook id: %w", s.ID, err)
		}
	}
	return subs, nil
}

// remove unregisters the webhook named by ?url= or ?id= (both: it must match both).
func (h *handler) remove(c echo.Context) error {
	ctx := c.Request().Context()
	p := web.Principal(c)
	m, err := h.manifest()
	if err != nil {
		return err
	}
	q := store.WebhookQuery{AppID: p.App.ID, AccountID: p.Credential.AccountID, URL: c.QueryParam("url")}
	var problems invalidInput
	if raw := c.QueryParam("id"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			problems = append(problems, fieldError{"id", fmt.Sprintf("%q is not a webhook id: a positive integer", raw)})
		}
		q.ID = id
	} else if q.URL == "" {
		problems = append(problems, fieldError{"url", "give the url (or the id) of the webhook to remove: ?url=..."})
	}
	if len(problems) > 0 {
		return problems
	}
	if _, err := h.adopt(ctx, p); err != nil {
		return err
	}
	w, err := h.store.FindWebhook(ctx, q)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("%s: %w", describe(q), engine.ErrNotFound)
		}
		return err
	}
	sub, err := h.engine.DeleteSubscription(ctx, p, w.SubscriptionID)
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			// Removed by another request since it was found.
			return fmt.Errorf("%s: %w", describe(q), engine.ErrNotFound)
		}
		return fmt.Errorf("remove webhook %d: %w", w.ID, err)
	}
	return c.JSON(http.StatusOK, view(m, w, sub))
}

func describe(q store.WebhookQuery) string {
	switch {
	case q.ID != 0 && q.URL != "":
		return fmt.Sprintf("no webhook %d with url %q", q.ID, q.URL)
	case q.ID != 0:
		return fmt.Sprintf("no webhook %d", q.ID)
	}
	return fmt.Sprintf("no webhook with url %q", q.URL)
}

func view(m *sdk.Manifest, w *store.Webhook, s *engine.Subscription) webhookOut {
	return webhookOut{ID: w.ID, Name: w.Name, Types: vendorNames(m, s.Events), URL: s.URL}
}

// canonicalTypes turns Altoviz type names (matched without regard to case, as the vendor's enum
// parsing does) into the canonical event types the manifest maps to them, in the order given and
// without duplicates; names are the types as the manifest spells them.
func canonicalTypes(m *sdk.Manifest, requested []string) (events, names, unknown []string) {
	seen := map[string]bool{}
	for _, r := range requested {
		var name string
		for _, e := range m.Events {
			if e.Name != "" && strings.EqualFold(e.Name, strings.TrimSpace(r)) {
				name = e.Name
				if !seen[e.Type] {
					seen[e.Type] = true
					events = append(events, e.Type)
				}
			}
		}
		switch {
		case name == "":
			unknown = append(unknown, strconv.Quote(r))
		case !seen["name:"+name]:
			seen["name:"+name] = true
			names = append(names, name)
		}
	}
	return events, names, unknown
}

// vendorNames turns a subscription's event filters back into Altoviz type names, in order. A
// filter may be a pattern (the native API can set client.*): it stands for every type it matches.
func vendorNames(m *sdk.Manifest, filters []string) []string {
	names := []string{}
	seen := map[string]bool{}
	for _, f := range filters {
		for _, e := range m.Events {
			if e.Name != "" && sdk.MatchType(f, e.Type) && !seen[e.Name] {
				seen[e.Name] = true
				names = append(names, e.Name)
			}
		}
	}
	return names
}

// typeNames lists the manifest's type names once each, in its order.
func typeNames(m *sdk.Manifest) []string { return vendorNames(m, []string{"*"}) }

// decode reads a JSON body leniently: unknown fields are ignored, and a value of the wrong type
// is a 400 naming its field.
func decode(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err // a *http.MaxBytesError when over the limit
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: the request body is empty; send the webhook as JSON", web.ErrBadJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return fmt.Errorf("%w at offset %d: %v", web.ErrBadJSON, syntax.Offset, syntax)
		case errors.As(err, &typ):
			if typ.Field == "" {
				return fmt.Errorf("%w: the body must be a JSON object, not %s", web.ErrBadJSON, typ.Value)
			}
			return invalid(typ.Field, fmt.Sprintf("must be %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: the body ends before the JSON does", web.ErrBadJSON)
		}
		return fmt.Errorf("%w: %v", web.ErrBadJSON, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: unexpected data after the JSON value", web.ErrBadJSON)
	}
	return nil
}

// jsonType names a Go kind as the JSON type a client must send.
func jsonType(kind string) string {
	switch kind {
	case "slice":
		return "an array"
	case "string":
		return "a string"
	}
	return kind
}
