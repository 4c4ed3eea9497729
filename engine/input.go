package engine

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard/switchyard/engine/internal/memo"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// DeliveryURLs are the URLs the host minted for one delivery; empty ones are not offered.
type DeliveryURLs struct {
	Callback    string
	Confirm     string
	Unsubscribe string
	Certificate string
	// Tokens are the capability tokens within these URLs: the attempt records the request with
	// RedactedToken in their place, so that the database never holds them in clear.
	Tokens []string
}

// RedactedToken stands in the recorded attempt for a capability token the request carried.
const RedactedToken = "[token]"

// redactTokens returns s with every token in it replaced by RedactedToken. Tokens are URL-safe
// base64 and dots, which neither JSON nor URL escaping changes, so they appear in the request as
// they are.
func redactTokens(s string, tokens []string) string {
	for _, t := range tokens {
		if t != "" {
			s = strings.ReplaceAll(s, t, RedactedToken)
		}
	}
	return s
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
		if app.ExternalID != nil {
			in.App.ExternalID = *app.ExternalID
		}
	}
	if account != nil {
		in.Account = sdk.Account{ID: account.ID, Name: account.Name}
		if account.ExternalID != nil {
			in.Account.ExternalID = *account.ExternalID
		}
	}
	if ev != nil {
		in.Event = sdk.Event{
			ID: ev.ID, Type: ev.Type, AccountID: ev.AccountID,
			Entity:     sdk.Entity{Type: ev.Entity.Type, ID: ev.Entity.ID},
			OccurredAt: ev.OccurredAt, Data: ev.Data, Previous: ev.PreviousData,
		}
		if ev.Source != nil {
			in.Event.Source = &sdk.Source{Type: ev.Source.Type, Info: ev.Source.Info}
		}
		if ev.User != nil {
			in.Event.User = &sdk.User{ID: ev.User.ID, Name: ev.User.Name, Email: ev.User.Email}
		}
	}
	return in
}

// Keys returns the keys a plugin may sign with for a delivery of sub at now: the subscription's
// secret, its previous secret while the rotation overlap lasts, and the app's secret. (The server's
// key is the runtime's to add, for plugins granted it.) The keyring records what was signed with,
// for FillSecrets.
func Keys(sub *Subscription, app *App, now time.Time) *signing.Keyring {
	k := &signing.Keyring{Subscription: sub.Secret, Usage: &signing.Usage{}}
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

// FillSecrets writes the secrets a plugin's request asks for (sdk.Input.Secret) in place of their
// placeholders, and returns the request to send and the one to record, which shows where each
// secret went but not the secret. A request that carries a secret, or a signature made with any of
// keys (keys.Usage), goes only to the subscription's own URL or below it (withinURL): the
// subscriber is the one party that already holds those keys or trusts that signature for this
// subscription, and a plugin that sets its own URL could otherwise take a key, or a signature
// another receiver trusts, anywhere.
func FillSecrets(sub *Subscription, target string, req *sdk.Request, keys *signing.Keyring) (send, record *sdk.Request, err error) {
	var signedWith []string
	if keys != nil {
		signedWith = keys.Usage.Refs()
	}
	if len(req.Secrets) == 0 && len(signedWith) == 0 {
		return req, req, nil
	}
	var within bool
	if target == sub.URL {
		within, _ = ownURLs.Get(target)
	} else {
		within = withinURL(target, sub.URL)
	}
	if !within {
		var used []string
		for _, ref := range req.Secrets {
			used = append(used, "the "+ref.Key+" secret")
		}
		for _, ref := range signedWith {
			used = append(used, "a signature made with the "+ref+" key")
		}
		where := originOf(target)
		if where == originOf(sub.URL) {
			where = "a path on " + where + " that lies"
		}
		return nil, nil, fmt.Errorf("the request carries %s but goes to %s outside the subscription's URL", strings.Join(used, " and "), where)
	}
	if len(req.Secrets) == 0 {
		return req, req, nil
	}
	return keys.FillSecrets(req)
}

// ownURLs remembers withinURL(u, u) for the URLs requests go to: nearly every request goes to its
// subscription's own URL, and parsing it twice for each was 2% of the server's CPU in the load
// generator's 64 x 1 run.
var ownURLs = memo.New(maxOwnURLs, func(u string) (bool, error) { return withinURL(u, u), nil })

const maxOwnURLs = 4096

// withinURL reports whether target lies at or below base as a receiver resolves it: the same
// scheme, host and port, and a path that, percent-decoded and with its dot segments resolved, is
// base's path or continues it. Below base, a segment that a second decoding or another server's
// rules could still turn into a separator or a dot segment (an encoded slash or backslash, a '%'
// left after decoding, "..;") is refused: servers disagree about those, and one that resolves it
// differently from this check would take the request above base.
func withinURL(target, base string) bool {
	t, err1 := url.Parse(target)
	b, err2 := url.Parse(base)
	if err1 != nil || err2 != nil || t.User != nil || t.Opaque != "" || !strings.EqualFold(t.Scheme, b.Scheme) || hostPort(t) != hostPort(b) {
		return false
	}
	ts, ok1 := resolvedSegments(t)
	bs, ok2 := resolvedSegments(b)
	if !ok1 || !ok2 || len(ts) < len(bs) {
		return false
	}
	for i, seg := range bs {
		if ts[i] != seg {
			return false
		}
	}
	for _, seg := range ts[len(bs):] {
		if strings.ContainsAny(seg, "/\\%") {
			return false
		}
		if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
			return false
		}
	}
	return true
}

// resolvedSegments splits u's path at its slashes, decodes each segment, and resolves empty and
// dot segments the way RFC 3986 does, after decoding: "%2e%2e" climbs like "..".
func resolvedSegments(u *url.URL) ([]string, bool) {
	var out []string
	for _, raw := range strings.Split(u.EscapedPath(), "/") {
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return nil, false
		}
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	return out, true
}

// hostPort is u's host and port, the scheme's default port written out, so https://h and
// https://h:443 compare equal.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// originOf names a URL's scheme and host only: paths and queries often hold secrets.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "an invalid URL"
	}
	return u.Scheme + "://" + u.Host
}
