// Package host is the host side of the SalesKing style: SalesKing's push-notification API on
// Switchyard, so that a SalesKing app subscribes and receives notifications unchanged, pointed at
// https://NODE/compat/salesking in place of https://SUB.salesking.eu:
//
//	GET    /compat/salesking/api/subs/channels   every channel, from the salesking plugin's manifest
//	POST   /compat/salesking/api/subs            {"sub": {"channel", "callback_url"}}, or form fields
//	                                             sub[channel] and sub[callback_url]; 201 {"sub": {...}}
//	GET    /compat/salesking/api/subs            the token's subscriptions, SalesKing's list shape
//	GET    /compat/salesking/api/subs/{id}       {"sub": {id, company_id, channel, callback_url,
//	PUT    /compat/salesking/api/subs/{id}        created_at, updated_at}}
//	DELETE /compat/salesking/api/subs/{id}
//
// Every path also answers with a ".json" suffix, as ActiveResource clients ask. The caller is an
// app's OAuth access token (a credential of kind access_token, granted by an account: the
// SalesKing company), sent as the access_token parameter or as "Authorization: Bearer"; other
// credentials are refused. Subscriptions belong to the token that made it: another token's are not
// found, and revoking the token deletes them (engine.RevokeCredential). A token subscribes to a
// channel only if its scope allows it: notification scopes name the object in the plural without
// the api/ prefix, "clients" for every client channel, "clients:create" (or "clients:create,update")
// for some. A callback_url must lie within the app's URL: the same scheme, host and port, and a path
// at or under the app's.
//
// Errors are {"errors": [["field", "message"], ...]}, the [attribute, message] pairs SalesKing's
// own SDK reads into ActiveResource errors; errors that concern no field name "base". SalesKing
// does not document its error bodies, so this shape is chosen, not copied. A sub whose fields are
// wrong (blank, not a channel, a callback outside the app) is 422, the status ActiveResource's save
// turns into `false` and sub.errors; a body that cannot be read (malformed JSON, another body type)
// and a bad page query are 400, an unknown or bad token 401, a token that may not do what it asks 403, another token's
// subscription 404.
//
// Roles: a token issued with the user who granted it (user_id) gets only the notifications that
// user's permissions, as the platform records them, allow; the others are skipped, never sent
// (roles.go).
//
// The operator records each account's SalesKing sub-domain, which notifications carry, with
// PUT /compat/salesking/admin/companies/{account_id} {"sub_domain": "acme"} (admin token, native
// errors); GET reads it back.
package host

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/salesking"
	"github.com/switchyard/switchyard/plugins/salesking/store"
)

// Prefix is where the style's routes live; SalesKing's own paths (/api/subs) follow it.
const Prefix = "/compat/salesking"

// Style is the SalesKing style of one node.
type Style struct {
	eng       *engine.Engine
	auth      engine.Authenticator
	companies store.Store
}

var (
	_ web.Routed         = (*Style)(nil)
	_ engine.HookedStyle = (*Style)(nil)
)

// New returns the SalesKing style over its store of companies: its routes, and the hooks that give
// each delivery the account's sub-domain and hold subscriptions to SalesKing's rules.
func New(d engine.StyleDeps, companies store.Store) (*Style, error) {
	return &Style{eng: d.Engine, auth: d.Auth, companies: companies}, nil
}

// Name is the style's name, and its plugin's.
func (s *Style) Name() string { return salesking.Name }

// Hooks keep from an app what its token's user may not see (roles.go), give each delivery the
// account's sub-domain, and vet subscriptions by SalesKing's rules.
func (s *Style) Hooks() engine.StyleHooks {
	return engine.StyleHooks{Skip: s.skip, Prepare: s.prepare, Admit: s.admit}
}

// Routes installs the compatible API and the operator's companies API.
func (s *Style) Routes(e *echo.Echo) {
	api := e.Group(Prefix+"/api", web.UseRenderer(render))
	for _, suffix := range []string{"", ".json"} {
		api.GET("/subs/channels"+suffix, s.channels)
		api.GET("/subs"+suffix, s.list, s.authenticate)
		api.POST("/subs"+suffix, s.create, s.authenticate)
	}
	// One route per method serves /subs/{id} and /subs/{id}.json: the handlers strip the suffix.
	api.GET("/subs/:id", s.get, s.authenticate)
	api.PUT("/subs/:id", s.update, s.authenticate)
	api.PATCH("/subs/:id", s.update, s.authenticate)
	api.DELETE("/subs/:id", s.delete, s.authenticate)

	admin := e.Group(Prefix+"/admin", web.Authenticate(s.auth), web.RequireAdmin)
	admin.PUT("/companies/:account_id", s.setCompany)
	admin.GET("/companies/:account_id", s.getCompany)
}

// prepare passes the account's sub-domain to the plugin as the delivery's state.
func (s *Style) prepare(ctx context.Context, w *engine.Work, _ *engine.DeliveryURLs) (json.RawMessage, error) {
	sub, _, err := s.companies.SubDomain(ctx, w.Subscription.AccountID)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"sub_domain": sub})
}

// subDomainPattern is one DNS label in lowercase, as SalesKing sub-domains are.
var subDomainPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

type company struct {
	AccountID string    `json:"account_id"`
	SubDomain string    `json:"sub_domain"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (s *Style) setCompany(c echo.Context) error {
	var in struct {
		SubDomain string `json:"sub_domain"`
	}
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	if !subDomainPattern.MatchString(in.SubDomain) {
		return &engine.ValidationError{Field: "sub_domain", Message: "must be a host name label: 1-63 lowercase letters, digits and '-', not starting or ending with '-'"}
	}
	ctx := c.Request().Context()
	id := c.Param("account_id")
	if _, err := s.eng.GetAccount(ctx, id); err != nil {
		return err
	}
	now := s.eng.Clock().Now().UTC().Truncate(time.Millisecond)
	if err := s.companies.SetSubDomain(ctx, id, in.SubDomain, now); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, company{AccountID: id, SubDomain: in.SubDomain, UpdatedAt: now})
}

func (s *Style) getCompany(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("account_id")
	if _, err := s.eng.GetAccount(ctx, id); err != nil {
		return err
	}
	sub, at, err := s.companies.SubDomain(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, company{AccountID: id, SubDomain: sub, UpdatedAt: at})
}
