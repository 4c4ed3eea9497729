package engine

import (
	"strings"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// DeliveryURLs are the URLs the host minted for one delivery; empty ones are not offered.
type DeliveryURLs struct {
	Callback    string
	Confirm     string
	Unsubscribe string
	Certificate string
}

// PluginInput builds what a plugin sees for one delivery. It carries no secrets: those travel in
// the Keyring that Keys returns, and never enter the sandbox.
func PluginInput(ev *Event, sub *Subscription, app *App, account *Account, d *Delivery, urls DeliveryURLs) *sdk.Input {
	in := &sdk.Input{
		Subscription: sdk.Subscription{
			ID: sub.ID, AccountID: sub.AccountID, AppID: sub.AppID, URL: sub.URL, Format: sub.Format,
			EntityKey: sub.EntityKey, HasSecret: sub.Secret != "", Options: sub.Options,
		},
		Delivery: sdk.Delivery{
			ID: d.ID, Attempt: d.Attempts + 1, Kind: string(d.Kind),
			CallbackURL: urls.Callback, ConfirmURL: urls.Confirm, UnsubscribeURL: urls.Unsubscribe, CertificateURL: urls.Certificate,
		},
	}
	if app != nil {
		in.App = sdk.App{ID: app.ID, Name: app.Name, URL: app.URL}
	}
	if account != nil {
		in.Account = sdk.Account{ID: account.ID, Name: account.Name}
	}
	if ev != nil {
		in.Event = sdk.Event{
			ID: ev.ID, Type: ev.Type, AccountID: ev.AccountID,
			Entity:     sdk.Entity{Type: ev.Entity.Type, ID: ev.Entity.ID},
			OccurredAt: ev.OccurredAt, Data: ev.Data, Previous: ev.PreviousData,
		}
		if ev.User != nil {
			in.Event.User = &sdk.User{ID: ev.User.ID, Name: ev.User.Name, Email: ev.User.Email}
		}
	}
	return in
}

// Keys returns the keys a plugin may sign with for a delivery of sub at now: the subscription's
// secret, its previous secret while the rotation overlap lasts, and the app's secret.
func Keys(sub *Subscription, app *App, now time.Time) *signing.Keyring {
	k := &signing.Keyring{Subscription: sub.Secret}
	if sub.PreviousSecret != "" && sub.PreviousSecretExpiresAt != nil && now.Before(*sub.PreviousSecretExpiresAt) {
		k.SubscriptionPrevious = sub.PreviousSecret
	}
	if app != nil {
		k.App = app.Secret
	}
	return k
}

// RequestURL is where a plugin's request goes: its URL when it gave one, else the subscription's
// URL with its Path appended.
func RequestURL(sub *Subscription, req *sdk.Request) string {
	if req.URL != "" {
		return req.URL
	}
	if req.Path == "" {
		return sub.URL
	}
	return strings.TrimRight(sub.URL, "/") + "/" + strings.TrimLeft(req.Path, "/")
}
