// Package host is the host side of the Upsales vendor style: Switchyard calls an app the way Upsales
// does (the request shape is the upsales plugin's, plugins/upsales), and the app calls back as it
// would call Upsales, in its answer or later through a one-time callbackUrl. An app written for
// Upsales works against Switchyard unchanged apart from the base URL.
//
// What the style adds to the engine:
//
//   - Prepare (engine.StyleHooks): the first time a delivery is prepared, a log entry for the
//     request with an unguessable callback token; every attempt offers the callback URL while the
//     callback is open, and passes the app's saved appData (and userAppData) to the plugin.
//   - Kept: applies the callback object of the app's synchronous answer, which the plugin's
//     on_response kept.
//   - POST /hooks/upsales/callbacks/{token}: the deferred callback. No other authentication: the
//     token is the credential. Once only; 410 when used, answered synchronously or expired; 413
//     over 100 kb; 400 for a body that is not JSON; 422 for a callback object of the wrong shape.
//   - GET /v1/logs, GET /v1/logs/{id}, GET /v1/notifications, POST /v1/notifications/{id}/open:
//     what callbacks leave, in the native API with its authentication (an app sees its own; the
//     operator sees all). Opening a notification within 90 days of its request asks the app's
//     /widget/notification for a widget; after that, or without an answer, a placeholder.
//   - Scheduler jobs: expiring unused callbacks (setting callback_ttl) and removing log entries
//     after 90 days (and notifications after notification_retention).
//
// Settings (serve --style-settings): upsales.callback_ttl (default 168h, at least 1m),
// upsales.widget_timeout (default 10s), upsales.notification_retention (default 8760h, at least
// 2160h, so notifications outlive the log entries they show).
package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	plugin "github.com/switchyard/switchyard/plugins/upsales"
	"github.com/switchyard/switchyard/plugins/upsales/store"
	"github.com/switchyard/switchyard/sdk/wire"
)

// Format is the plugin, and so the subscription format, this style serves.
const Format = "upsales"

// LogRetention is how long a log entry lives, and so how long a notification's modal can ask the
// app for its widget: 90 days from the request, as Upsales keeps them.
const LogRetention = 90 * 24 * time.Hour

// Placeholder is what the notification modal shows when the app has nothing more to say.
const Placeholder = "No more information for this notification"

// Config are the style's settings.
type Config struct {
	// CallbackTTL is how long a callback URL stays usable after the request (re)sent it.
	CallbackTTL time.Duration
	// WidgetTimeout is how long the app has to answer a widget request; a person is waiting.
	WidgetTimeout time.Duration
	// NotificationRetention is how long notifications are kept.
	NotificationRetention time.Duration
}

var settings = map[string]struct {
	def, min time.Duration
	set      func(*Config, time.Duration)
}{
	"callback_ttl":           {7 * 24 * time.Hour, time.Minute, func(c *Config, d time.Duration) { c.CallbackTTL = d }},
	"widget_timeout":         {10 * time.Second, 100 * time.Millisecond, func(c *Config, d time.Duration) { c.WidgetTimeout = d }},
	"notification_retention": {365 * 24 * time.Hour, LogRetention, func(c *Config, d time.Duration) { c.NotificationRetention = d }},
}

// ReadConfig reads the style's settings, refusing unknown ones and values out of range.
func ReadConfig(all map[string]string) (Config, error) {
	var cfg Config
	var names []string
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := settings[name]
		d := s.def
		if raw, ok := all[Format+"."+name]; ok {
			v, err := time.ParseDuration(raw)
			if err != nil || v < s.min {
				return cfg, fmt.Errorf("upsales.%s: %q is not a duration of at least %s", name, raw, s.min)
			}
			d = v
		}
		s.set(&cfg, d)
	}
	for key := range all {
		if name, ok := strings.CutPrefix(key, Format+"."); ok {
			if _, known := settings[name]; !known {
				return cfg, fmt.Errorf("upsales.%s is not a setting of the Upsales style; it has %s", name, strings.Join(names, ", "))
			}
		}
	}
	return cfg, nil
}

// Style is the Upsales style of one node.
type Style struct {
	cfg       Config
	st        store.Store
	engine    *engine.Engine
	auth      engine.Authenticator
	clock     engine.Clock
	logger    *slog.Logger
	publicURL string
	// callbacks mints the tokens of callback URLs.
	callbacks engine.CapabilityKey
}

var (
	_ web.Routed            = (*Style)(nil)
	_ engine.HookedStyle    = (*Style)(nil)
	_ engine.ScheduledStyle = (*Style)(nil)
)

// New returns the Upsales style over its store, with the operator's settings.
func New(d engine.StyleDeps, st store.Store) (*Style, error) {
	cfg, err := ReadConfig(d.Settings)
	if err != nil {
		return nil, err
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var secret []byte
	if d.Secrets != nil {
		if secret, err = d.Secrets.Secret(callbackKeyFile); err != nil {
			return nil, fmt.Errorf("upsales: %w", err)
		}
	}
	return &Style{cfg: cfg, st: st, engine: d.Engine, auth: d.Auth, clock: d.Engine.Clock(), logger: logger.With("style", Format),
		publicURL: strings.TrimRight(d.PublicURL, "/"), callbacks: engine.NewCapabilityKey(secret, "upsales callback")}, nil
}

// Name is the style's name, and its plugin's.
func (s *Style) Name() string { return Format }

// Hooks record each request's log entry and apply the callbacks apps answer with.
func (s *Style) Hooks() engine.StyleHooks { return engine.StyleHooks{Prepare: s.prepare, Kept: s.kept} }

// Jobs expire unused callbacks and remove old log entries and notifications.
func (s *Style) Jobs() []*engine.Job {
	return []*engine.Job{
		{Name: "upsales-expire-callbacks", Spec: "@every 1m", Run: s.expireCallbacks},
		{Name: "upsales-retention", Spec: "@every 1h", Run: s.retention},
	}
}

// Routes serve the deferred callback and, in the native API, what callbacks leave.
func (s *Style) Routes(e *echo.Echo) {
	e.POST("/hooks/upsales/callbacks/:token", s.postCallback, web.UseRenderer(renderError))
	auth := web.Authenticate(s.auth)
	e.GET("/v1/logs", s.listLogs, auth, web.RequireApp)
	e.GET("/v1/logs/:id", s.getLog, auth, web.RequireApp)
	e.GET("/v1/notifications", s.listNotifications, auth, web.RequireApp)
	e.POST("/v1/notifications/:id/open", s.openNotification, auth, web.RequireApp)
}

// CallbackURL is the one-time URL of a request's callback.
func CallbackURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/hooks/upsales/callbacks/" + url.PathEscape(token)
}

// callbackKeyFile names the style's secret callback tokens are derived from.
const callbackKeyFile = "upsales-callback-key"

// callbackTarget is the request a callback URL's token names: derived by this node from a log
// entry's ID, or, made at random by an older version, found by its hash.
func (s *Style) callbackTarget(token string) store.ApplyParams {
	if id, ok := s.callbacks.ID(token); ok {
		return store.ApplyParams{LogID: id}
	}
	return store.ApplyParams{TokenHash: engine.HashToken(token)}
}

// prepare records the request's log entry (once per delivery), offers the callback URL while the
// callback is open, and hands the plugin the app data saved for this app, account and user.
func (s *Style) prepare(ctx context.Context, w *engine.Work, urls *engine.DeliveryURLs) (json.RawMessage, error) {
	if w.Event == nil {
		return nil, nil // no handshakes in this style
	}
	now := s.clock.Now()
	sub, ev := w.Subscription, w.Event
	trigger := ""
	if p, ok := s.engine.Plugins().Get(sub.Format); ok {
		m := p.Manifest()
		trigger = m.EventName(ev.Type)
	}
	e := &store.LogEntry{
		ID: engine.NewID("log"), DeliveryID: w.Delivery.ID, AppID: sub.AppID, AccountID: sub.AccountID, SubscriptionID: sub.ID,
		EventID: ev.ID, EventType: ev.Type, Trigger: trigger, EntityID: ev.Entity.ID, BaseURL: sub.URL,
		UserConfigurable: sub.Options[plugin.OptionUserConfigurable] == "true",
	}
	e.TokenHash = engine.HashToken(s.callbacks.Token(e.ID))
	if ev.User != nil {
		e.UserID = ev.User.ID
	}
	prepared, err := s.st.PrepareRequest(ctx, store.PrepareParams{Entry: e, ExpiresAt: now.Add(s.cfg.CallbackTTL), User: ev.User, Now: now})
	if err != nil {
		return nil, err
	}
	// "You'll know app callback is available if the request body has a callbackUrl property":
	// a retry after the callback was used carries none.
	if prepared.Entry.Callback == store.CallbackOpen {
		// From the stored entry's ID: on a retry, the entry offered above was not kept.
		token := s.callbacks.Token(prepared.Entry.ID)
		urls.Callback = CallbackURL(s.publicURL, token)
		urls.Tokens = append(urls.Tokens, token)
	}
	if prepared.AppData == nil && prepared.UserAppData == nil {
		return nil, nil
	}
	w2 := wire.NewWriter(nil)
	w2.BeginObject()
	w2.RawFieldOmitEmpty("appData", prepared.AppData)
	w2.RawFieldOmitEmpty("userAppData", prepared.UserAppData)
	w2.EndObject()
	return w2.Buf, nil
}

// kept applies the callback object the app's synchronous answer carried, or records why the plugin
// refused it. Whatever keeps a callback from applying is written on the request's log entry
// (callback_error), where the app's operator looks, and noted on the attempt, which is recorded
// after this returns.
func (s *Style) kept(ctx context.Context, w *engine.Work, a *engine.Attempt) error {
	var k plugin.Kept
	if err := json.Unmarshal(a.Kept, &k); err != nil {
		return fmt.Errorf("read what the upsales plugin kept: %w", err)
	}
	var err error
	switch {
	case k.Refused != "":
		err = errors.New(k.Refused)
	case k.Callback == nil:
		return nil
	default:
		var cb *store.Callback
		if cb, err = ParseCallback(k.Callback); err == nil {
			_, err = s.apply(ctx, store.ApplyParams{DeliveryID: w.Delivery.ID, Callback: cb})
		}
	}
	if err == nil {
		return nil
	}
	note := "callback not applied: " + err.Error()
	if a.Error == "" {
		a.Error = note
	}
	if _, rerr := s.st.RefuseCallback(ctx, w.Delivery.ID, note, s.clock.Now()); rerr != nil {
		return errors.Join(err, rerr)
	}
	if k.Refused != "" || errors.Is(err, store.ErrCallbackUsed) || errors.Is(err, engine.ErrInvalid) ||
		errors.Is(err, engine.ErrTooLarge) || errors.Is(err, store.ErrAppDataTooLarge) {
		s.logger.Info(note, "delivery", w.Delivery.ID)
		return nil
	}
	return err
}

func (s *Style) apply(ctx context.Context, p store.ApplyParams) (*store.Applied, error) {
	p.Now = s.clock.Now()
	p.NewID = func() string { return engine.NewID("ntf") }
	return s.st.ApplyCallback(ctx, p)
}

func (s *Style) expireCallbacks(ctx context.Context, now time.Time) error {
	n, err := s.st.ExpireCallbacks(ctx, now)
	if n > 0 {
		s.logger.Info("expired unused callback URLs", "requests", n)
	}
	return err
}

func (s *Style) retention(ctx context.Context, now time.Time) error {
	logs, err := s.st.PurgeLogEntries(ctx, now.Add(-LogRetention))
	if logs > 0 {
		s.logger.Info("removed log entries past their 90 days", "entries", logs)
	}
	if err != nil {
		return err
	}
	notes, err := s.st.PurgeNotifications(ctx, now.Add(-s.cfg.NotificationRetention))
	if notes > 0 {
		s.logger.Info("removed old notifications", "notifications", notes)
	}
	return err
}
