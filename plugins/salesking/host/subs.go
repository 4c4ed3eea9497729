package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/salesking"
)

// sub is a subscription as SalesKing shows it: one channel, one callback.
type sub struct {
	ID          string `json:"id"`
	CompanyID   string `json:"company_id"`
	Channel     string `json:"channel"`
	CallbackURL string `json:"callback_url"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

type subBody struct {
	Sub sub `json:"sub"`
}

func toSub(s *engine.Subscription) subBody {
	return subBody{Sub: sub{
		ID: s.ID, CompanyID: s.AccountID, Channel: strings.Join(s.Events, ","), CallbackURL: s.URL,
		CreatedAt: s.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: s.UpdatedAt.UTC().Format(time.RFC3339),
	}}
}

// authenticate lets through an app's access token only: SalesKing ties subscriptions to the token
// a company granted the app, so the operator, API keys and client credentials may not manage them.
func (s *Style) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, err := accessToken(c)
		if err != nil {
			return err
		}
		p, err := s.auth.Token(c.Request().Context(), token)
		if err != nil {
			return err
		}
		switch {
		case p.Admin:
			return fmt.Errorf("the admin token cannot manage subscriptions: a subscription belongs to the access token a company granted an app: %w", engine.ErrForbidden)
		case p.Credential.Kind != engine.CredentialAccessToken:
			return fmt.Errorf("only an app's access token, granted by a company, may manage subscriptions; this credential is a %s: %w", p.Credential.Kind, engine.ErrForbidden)
		}
		web.SetPrincipal(c, p)
		return next(c)
	}
}

// accessToken finds the token the way OAuth 2 bearer tokens travel (RFC 6750): an Authorization
// bearer header, the access_token query parameter, or the access_token field of a form body.
func accessToken(c echo.Context) (string, error) {
	r := c.Request()
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, _ := strings.Cut(auth, " ")
		token = strings.TrimSpace(token)
		switch {
		case !strings.EqualFold(scheme, "bearer"):
			// The header is not echoed: without "Bearer " in front, its first word is the token.
			return "", fmt.Errorf("subscriptions need an OAuth access token, as Authorization: Bearer <token>; this Authorization header is not a bearer token: %w", engine.ErrUnauthorized)
		case token == "":
			return "", fmt.Errorf("the Authorization header's bearer token is empty: %w", engine.ErrUnauthorized)
		}
		return token, nil
	}
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t, nil
	}
	if isForm(r) {
		form, err := formValues(r)
		if err != nil {
			return "", err
		}
		if t := form.Get("access_token"); t != "" {
			return t, nil
		}
	}
	return "", fmt.Errorf("no access token: send it as the access_token parameter or as Authorization: Bearer <token>: %w", engine.ErrUnauthorized)
}

func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return strings.ToLower(mt)
}

func isForm(r *http.Request) bool {
	mt := mediaType(r)
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// maxMultipartMemory bounds what a multipart form keeps in memory; the node's body limit is lower.
const maxMultipartMemory = 1 << 20

// formValues parses a form body once (net/http keeps the result) and returns its fields with the
// query's.
func formValues(r *http.Request) (url.Values, error) {
	var err error
	if mediaType(r) == "multipart/form-data" {
		err = r.ParseMultipartForm(maxMultipartMemory)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooBig
		}
		return nil, badRequest(fieldError{"base", "the form body cannot be read: " + err.Error()})
	}
	return r.Form, nil
}

// subInput is what a create or update asks for; nil fields were not given.
type subInput struct {
	Channel, CallbackURL *string
}

// readSub reads {"sub": {"channel", "callback_url"}} (or the two fields unwrapped, as Rails' JSON
// parameter wrapping accepts), or the form fields sub[channel] and sub[callback_url]. Other fields,
// such as the read-only ones ActiveResource sends back on update, are ignored.
func readSub(c echo.Context) (subInput, error) {
	r := c.Request()
	mt := mediaType(r)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return readJSONSub(r)
	case mt == "" || isForm(r):
		form, err := formValues(r)
		if err != nil {
			return subInput{}, err
		}
		var in subInput
		for _, f := range []struct {
			dst   **string
			names []string
		}{
			{&in.Channel, []string{"sub[channel]", "channel"}},
			{&in.CallbackURL, []string{"sub[callback_url]", "callback_url"}},
		} {
			for _, name := range f.names {
				if vs, ok := form[name]; ok && len(vs) > 0 {
					v := vs[0]
					*f.dst = &v
					break
				}
			}
		}
		return in, nil
	}
	return subInput{}, badRequest(fieldError{"base", fmt.Sprintf("a body of type %s is not understood: send JSON {\"sub\": {\"channel\", \"callback_url\"}} or the form fields sub[channel] and sub[callback_url]", mt)})
}

func readJSONSub(r *http.Request) (subInput, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return subInput{}, err // a *http.MaxBytesError when over the limit
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return subInput{}, badRequest(fieldError{"base", `the request body is empty: send {"sub": {"channel", "callback_url"}}`})
	}
	type fields struct {
		Channel     *string `json:"channel"`
		CallbackURL *string `json:"callback_url"`
	}
	var doc struct {
		Sub *fields `json:"sub"`
		fields
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			field := typ.Field
			if i := strings.LastIndexByte(field, '.'); i >= 0 {
				field = field[i+1:]
			}
			if field == "sub" {
				return subInput{}, badRequest(fieldError{field, `must be an object: {"sub": {"channel", "callback_url"}}`})
			}
			// The sub is readable; one of its fields has the wrong type, as a model's field can.
			return subInput{}, invalid(fieldError{field, "must be a string"})
		}
		return subInput{}, badRequest(fieldError{"base", "the body is not valid JSON: " + err.Error()})
	}
	if doc.Sub != nil {
		return subInput{Channel: doc.Sub.Channel, CallbackURL: doc.Sub.CallbackURL}, nil
	}
	return subInput{Channel: doc.Channel, CallbackURL: doc.CallbackURL}, nil
}

// check validates what a create or update gives against the channels and the app's URL, and the
// channel against the token's scope. It reports every input problem at once (422) before a refusal
// of the scope (403). On create both fields are required.
func (s *Style) check(p *engine.Principal, in subInput, create bool) (channel, error) {
	set, err := s.channelSet()
	if err != nil {
		return channel{}, err
	}
	var problems []fieldError
	var ch channel
	if in.Channel != nil {
		name := strings.TrimSpace(*in.Channel)
		var ok bool
		switch ch, ok = set.byName[name]; {
		case name == "":
			problems = append(problems, fieldError{"channel", "can't be blank"})
		case !ok:
			problems = append(problems, fieldError{"channel", fmt.Sprintf("%q is not a channel; GET %s/api/subs/channels lists them", name, Prefix)})
		}
	} else if create {
		problems = append(problems, fieldError{"channel", "can't be blank"})
	}
	if in.CallbackURL != nil {
		cb := strings.TrimSpace(*in.CallbackURL)
		if cb == "" {
			problems = append(problems, fieldError{"callback_url", "can't be blank"})
		} else if err := checkWithinApp(p.App.URL, cb); err != nil {
			problems = append(problems, fieldError{"callback_url", err.Error()})
		}
	} else if create {
		problems = append(problems, fieldError{"callback_url", "can't be blank"})
	}
	if !create && in.Channel == nil && in.CallbackURL == nil {
		problems = append(problems, fieldError{"sub", "give the channel or the callback_url to change"})
	}
	if len(problems) > 0 {
		return channel{}, invalid(problems...)
	}
	if ch.Name != "" && !allows(p.Credential.Scopes, ch) {
		return channel{}, scopeRefusal(p.Credential.Scopes, ch)
	}
	return ch, nil
}

// admit holds a SalesKing-format subscription made or changed through any API to the rules of this
// one: it belongs to an access token, names one channel the token's scope allows, and calls back
// within the app's URL. Without it an app's API key could subscribe through /v1/subscriptions to
// channels no company granted it, at any URL.
func (s *Style) admit(_ context.Context, p *engine.Principal, sub *engine.Subscription) error {
	if p.Credential == nil || p.Credential.Kind != engine.CredentialAccessToken {
		return fmt.Errorf("a %s subscription belongs to an access token a company granted, and is made through %s/api/subs: %w", salesking.Name, Prefix, engine.ErrForbidden)
	}
	set, err := s.channelSet()
	if err != nil {
		return err
	}
	if len(sub.Events) != 1 {
		return &engine.ValidationError{Field: "events", Message: fmt.Sprintf("a %s subscription names exactly one channel", salesking.Name)}
	}
	ch, ok := set.byName[sub.Events[0]]
	if !ok {
		return &engine.ValidationError{Field: "events", Message: fmt.Sprintf("%q is not a channel; GET %s/api/subs/channels lists them", sub.Events[0], Prefix)}
	}
	if err := checkWithinApp(p.App.URL, sub.URL); err != nil {
		return &engine.ValidationError{Field: "url", Message: err.Error()}
	}
	if !allows(p.Credential.Scopes, ch) {
		return scopeRefusal(p.Credential.Scopes, ch)
	}
	return nil
}

func (s *Style) channels(c echo.Context) error {
	set, err := s.channelSet()
	if err != nil {
		return err
	}
	names := make([]string, len(set.list))
	for i, ch := range set.list {
		names[i] = ch.Name
	}
	return c.JSON(http.StatusOK, names)
}

// create subscribes the token to one channel. Asking again for a channel and callback the token
// already has returns that subscription (enabled again if it was disabled) rather than a second
// one, so an app that subscribes each time it starts does not get every notification twice.
func (s *Style) create(c echo.Context) error {
	ctx := c.Request().Context()
	p := web.Principal(c)
	in, err := readSub(c)
	if err != nil {
		return err
	}
	ch, err := s.check(p, in, true)
	if err != nil {
		return err
	}
	callback := strings.TrimSpace(*in.CallbackURL)
	existing, err := s.eng.ListSubscriptions(ctx, p, engine.SubscriptionQuery{
		CredentialID: p.Credential.ID, Format: salesking.Name, URL: callback,
	})
	if err != nil {
		return err
	}
	for _, e := range existing {
		if !slices.Equal(e.Events, []string{ch.Name}) {
			continue
		}
		if e.State == engine.SubscriptionDisabled {
			// Subscribing again is asking for notifications again (after the receiver answered
			// 410 Gone, say).
			active := engine.SubscriptionActive
			if e, err = s.eng.UpdateSubscription(ctx, p, e.ID, engine.SubscriptionPatch{State: &active}); err != nil {
				return inputError(err)
			}
		}
		return c.JSON(http.StatusCreated, toSub(e))
	}
	created, err := s.eng.CreateSubscription(ctx, p, engine.NewSubscription{
		AccountID: p.Credential.AccountID, Format: salesking.Name, Events: []string{ch.Name}, URL: callback,
		// Notifications are signed with the app's secret (sdk.KeyApp), not a subscription's.
		NoSecret: true,
	})
	if err != nil {
		return inputError(err)
	}
	return c.JSON(http.StatusCreated, toSub(created))
}

// own returns one of the token's SalesKing subscriptions; any other is not found.
func (s *Style) own(c echo.Context) (*engine.Subscription, error) {
	id := strings.TrimSuffix(c.Param("id"), ".json")
	p := web.Principal(c)
	sub, err := s.eng.GetSubscription(c.Request().Context(), p, id)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && (sub.CredentialID != p.Credential.ID || sub.Format != salesking.Name)) {
		return nil, fmt.Errorf("no sub %q belongs to this access token: %w", id, engine.ErrNotFound)
	}
	return sub, err
}

func (s *Style) get(c echo.Context) error {
	sub, err := s.own(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toSub(sub))
}

// update changes a subscription's channel, callback or both.
func (s *Style) update(c echo.Context) error {
	ctx := c.Request().Context()
	p := web.Principal(c)
	sub, err := s.own(c)
	if err != nil {
		return err
	}
	in, err := readSub(c)
	if err != nil {
		return err
	}
	ch, err := s.check(p, in, false)
	if err != nil {
		return err
	}
	var patch engine.SubscriptionPatch
	if ch.Name != "" {
		patch.Events = &[]string{ch.Name}
	}
	if in.CallbackURL != nil {
		cb := strings.TrimSpace(*in.CallbackURL)
		patch.URL = &cb
	}
	updated, err := s.eng.UpdateSubscription(ctx, p, sub.ID, patch)
	if err != nil {
		return inputError(err)
	}
	return c.JSON(http.StatusOK, toSub(updated))
}

// delete removes a subscription and answers with it, as SalesKing's API answers a DELETE.
func (s *Style) delete(c echo.Context) error {
	sub, err := s.own(c)
	if err != nil {
		return err
	}
	deleted, err := s.eng.DeleteSubscription(c.Request().Context(), web.Principal(c), sub.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toSub(deleted))
}

// Paging as SalesKing's API pages: ?page=1&per_page=50, at most 200 a page.
const (
	defaultPerPage = 50
	maxPerPage     = 200
)

type listBody struct {
	Subs       []subBody         `json:"subs"`
	Collection collection        `json:"collection"`
	Links      map[string]string `json:"links"`
}

type collection struct {
	CurrentPage  int `json:"current_page"`
	PerPage      int `json:"per_page"`
	TotalEntries int `json:"total_entries"`
	TotalPages   int `json:"total_pages"`
}

// list answers with the token's subscriptions in SalesKing's list shape: {"subs": [{"sub": {...}}],
// "collection": {current_page, per_page, total_entries, total_pages}, "links": {self, prev, next}}.
func (s *Style) list(c echo.Context) error {
	page, perPage, err := paging(c)
	if err != nil {
		return err
	}
	p := web.Principal(c)
	// A token has few subscriptions (one per channel and callback), so counting them all is cheap.
	var all []*engine.Subscription
	f := engine.SubscriptionQuery{CredentialID: p.Credential.ID, Format: salesking.Name, Page: engine.Page{Limit: 500}}
	for {
		batch, err := s.eng.ListSubscriptions(c.Request().Context(), p, f)
		if err != nil {
			return err
		}
		all = append(all, batch...)
		if len(batch) < f.Limit {
			break
		}
		f.After = batch[len(batch)-1].ID
	}
	body := listBody{Subs: []subBody{}, Links: map[string]string{}}
	body.Collection = collection{CurrentPage: page, PerPage: perPage, TotalEntries: len(all), TotalPages: max(1, (len(all)+perPage-1)/perPage)}
	for i := (page - 1) * perPage; i < len(all) && i < page*perPage; i++ {
		body.Subs = append(body.Subs, toSub(all[i]))
	}
	link := func(n int) string { return fmt.Sprintf("%s/api/subs?page=%d&per_page=%d", Prefix, n, perPage) }
	body.Links["self"] = link(page)
	if page > 1 {
		body.Links["prev"] = link(page - 1)
	}
	if page < body.Collection.TotalPages {
		body.Links["next"] = link(page + 1)
	}
	return c.JSON(http.StatusOK, body)
}

func paging(c echo.Context) (page, perPage int, err error) {
	page, perPage = 1, defaultPerPage
	var problems []fieldError
	if raw := c.QueryParam("page"); raw != "" {
		if page, err = strconv.Atoi(raw); err != nil || page < 1 {
			problems = append(problems, fieldError{"page", "must be a number from 1"})
		}
	}
	if raw := c.QueryParam("per_page"); raw != "" {
		if perPage, err = strconv.Atoi(raw); err != nil || perPage < 1 || perPage > maxPerPage {
			problems = append(problems, fieldError{"per_page", fmt.Sprintf("must be a number from 1 to %d", maxPerPage)})
		}
	}
	if len(problems) > 0 {
		return 0, 0, badRequest(problems...)
	}
	return page, perPage, nil
}
