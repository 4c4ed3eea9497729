// Package upsales shapes deliveries as Upsales app requests. Switchyard calls the app, and the app
// may call back, in its answer or later through a one-time URL:
//
//	POST <subscription url>/<object><insert|update|delete>/<entity id>     (/clientinsert/42)
//	content-type: application/json
//
//	{"appId": "app_...", "date": "<when the event occurred, UTC>", "authenticationKey": "<the app's key>",
//	 "customer": {"id", "name"}, "user": {"id", "name", "email"}, "appData": {...},
//	 "userAppData": {...}, "data": {"object": <the entity>}, "callbackUrl": "https://.../callback"}
//
// for the objects client, contact, order, agreement, activity and appointment. The manifest maps
// each canonical event type to its trigger name: it is the one place that vocabulary lives.
//
// authenticationKey is the app's shared key, which the app compares to tell that a call is genuine.
// The plugin never holds it: it writes a placeholder (sdk.Input.Secret) that the host replaces after
// shaping. customer.id and user.id are numbers when the publisher's IDs are decimal numbers, as
// Upsales' are, and strings otherwise. user is present when the event names one; userAppData only
// when the subscription option user_configurable is "true" and the event names a user. appData and
// userAppData are what the host keeps for the app (Input.State: {"appData", "userAppData"}), {} when
// nothing was saved. callbackUrl is present while the request's callback is still open.
//
// The app has 30 seconds to answer. A 2xx answer whose JSON body has a "callback" object is the
// synchronous app callback: OnResponse hands it to the host to apply (Verdict.Keep). A callback
// over MaxCallbackBytes, or one that is not an object, is ignored with a note on the attempt; the
// delivery still succeeds, and the callback URL stays open. 410 disables the subscription; any other
// answer is retried, no sooner than a Retry-After asks.
package upsales

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// MaxCallbackBytes is the largest app callback object accepted, in an answer or posted later:
// Upsales' "less than 100kb".
const MaxCallbackBytes = 100 << 10

// OptionUserConfigurable is the subscription option that makes an app user-configurable: it then
// gets userAppData, and may save it.
const OptionUserConfigurable = "user_configurable"

// Plugin is the upsales plugin, registered by the wasm entry point and used natively by tests.
var Plugin = sdk.Plugin{Manifest: manifest, Shape: Shape, OnResponse: OnResponse}

var manifest = sdk.Manifest{
	Name:        "upsales",
	Version:     "1.0.0",
	Description: "Upsales app requests: POST {url}/{object}{insert|update|delete}/{id} with appData and a one-time callbackUrl for app callbacks",
	Events: []sdk.EventType{
		{Type: "client.create", Name: "clientinsert"},
		{Type: "client.update", Name: "clientupdate"},
		{Type: "client.delete", Name: "clientdelete"},
		{Type: "contact.create", Name: "contactinsert"},
		{Type: "contact.update", Name: "contactupdate"},
		{Type: "contact.delete", Name: "contactdelete"},
		{Type: "order.create", Name: "orderinsert"},
		{Type: "order.update", Name: "orderupdate"},
		{Type: "order.delete", Name: "orderdelete"},
		{Type: "agreement.create", Name: "agreementinsert"},
		{Type: "agreement.update", Name: "agreementupdate"},
		{Type: "agreement.delete", Name: "agreementdelete"},
		{Type: "activity.create", Name: "activityinsert"},
		{Type: "activity.update", Name: "activityupdate"},
		{Type: "activity.delete", Name: "activitydelete"},
		{Type: "appointment.create", Name: "appointmentinsert"},
		{Type: "appointment.update", Name: "appointmentupdate"},
		{Type: "appointment.delete", Name: "appointmentdelete"},
	},
	Options: []sdk.Option{{
		Name:        OptionUserConfigurable,
		Description: `"true" makes the app user-configurable: requests carry userAppData, and callbacks may save it`,
		Default:     "false",
		Values:      []string{"true", "false"},
	}},
	SampleEvent:       []byte(`{"type":"client.create","entity":{"type":"client","id":"42"},"data":{"id":42,"name":"Acme"}}`),
	DeliveryTimeoutMS: 30000,
	// An answer carries a callback of up to 100 kb beside whatever else the app sends.
	MaxResponseBytes: 256 << 10,
}

// Trigger returns the trigger name of a canonical event type ("client.create" -> "clientinsert"),
// or "" when Upsales has none.
func Trigger(eventType string) string { return manifest.EventName(eventType) }

// Shape builds the app request for one delivery.
func Shape(in *sdk.Input) (*sdk.Request, error) {
	trigger := Trigger(in.Event.Type)
	if trigger == "" {
		return nil, fmt.Errorf("upsales has no trigger for %q", in.Event.Type)
	}
	if in.Event.Entity.ID == "" {
		return nil, errors.New("an upsales request needs the event's entity id")
	}
	appData, userAppData, err := readState(in.State)
	if err != nil {
		return nil, err
	}
	user := in.Event.User
	appID := in.App.ID
	if appID == "" {
		appID = in.Subscription.AppID
	}

	w := wire.NewWriter(make([]byte, 0, len(in.Event.Data)+len(appData)+len(userAppData)+512))
	w.BeginObject()
	w.StringField("appId", appID)
	w.Key("date")
	w.Time(in.Event.OccurredAt)
	w.StringField("authenticationKey", in.Secret(sdk.KeyApp, sdk.SecretJSON))
	w.Key("customer")
	w.BeginObject()
	idField(w, "id", in.Account.ID)
	w.StringField("name", in.Account.Name)
	w.EndObject()
	if user != nil {
		w.Key("user")
		w.BeginObject()
		idField(w, "id", user.ID)
		w.StringField("name", user.Name)
		w.StringField("email", user.Email)
		w.EndObject()
	}
	w.RawField("appData", orEmptyObject(appData))
	if user != nil && in.Subscription.Options[OptionUserConfigurable] == "true" {
		w.RawField("userAppData", orEmptyObject(userAppData))
	}
	w.Key("data")
	w.BeginObject()
	w.RawField("object", in.Event.Data)
	w.EndObject()
	w.StringFieldOmitEmpty("callbackUrl", in.Delivery.CallbackURL)
	w.EndObject()

	return &sdk.Request{
		Method:  "POST",
		Path:    "/" + trigger + "/" + url.PathEscape(in.Event.Entity.ID),
		Headers: []sdk.Header{{Name: "content-type", Value: "application/json"}},
		Body:    w.Buf,
	}, nil
}

// readState reads what the host kept for the app: {"appData": {...}, "userAppData": {...}}.
func readState(state []byte) (appData, userAppData []byte, err error) {
	if len(state) == 0 {
		return nil, nil, nil
	}
	r := wire.NewReader(state)
	err = r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "appData":
			appData, err = r.Raw()
		case "userAppData":
			userAppData, err = r.Raw()
		default:
			err = r.Skip()
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("the host's state for this app: %w", err)
	}
	return appData, userAppData, nil
}

func orEmptyObject(raw []byte) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return []byte("{}")
	}
	return raw
}

// idField writes an ID as a JSON number when it is a decimal number that survives the trip (apps
// written for Upsales compare them as numbers), and as a string otherwise.
func idField(w *wire.Writer, key, id string) {
	w.Key(key)
	if IsDecimalID(id) {
		w.Raw([]byte(id))
		return
	}
	w.String(id)
}

// IsDecimalID reports whether id is 1 to 15 digits without a leading zero: an integer JSON number
// that every JSON parser, JavaScript's included, reads back exactly. Such IDs are sent as numbers.
func IsDecimalID(id string) bool {
	if len(id) == 0 || len(id) > 15 || (id[0] == '0' && len(id) > 1) {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// OnResponse judges the app's answer, and hands a synchronous app callback to the host.
func OnResponse(in *sdk.Input) (*sdk.Verdict, error) {
	r := in.Response
	switch {
	case r.Status >= 200 && r.Status < 300:
		callback, note := findCallback(r.Body)
		return &sdk.Verdict{Outcome: sdk.OutcomeSuccess, Keep: callback, Message: note}, nil
	case r.Status == 410:
		return &sdk.Verdict{Outcome: sdk.OutcomeDisable, Message: "the app answered 410 Gone"}, nil
	}
	return &sdk.Verdict{Outcome: sdk.OutcomeRetry, RetryAfter: retryAfter(r.Header("retry-after"), in.Now())}, nil
}

// findCallback returns the "callback" object of a JSON answer, or nil with a note saying why an
// answer's callback cannot be used. An answer that is not a JSON object has no callback: apps
// answer "OK" too.
func findCallback(body []byte) (callback []byte, note string) {
	r := wire.NewReader(body)
	var raw []byte
	err := r.Object(func(key []byte) (err error) {
		if string(key) == "callback" && raw == nil {
			raw, err = r.Raw()
			return err
		}
		return r.Skip()
	})
	if err != nil || raw == nil || string(raw) == "null" {
		return nil, ""
	}
	if raw[0] != '{' {
		return nil, "the answer's callback is not an object; ignored"
	}
	if len(raw) > MaxCallbackBytes {
		return nil, fmt.Sprintf("the answer's callback is %d bytes, over the limit of %d; ignored", len(raw), MaxCallbackBytes)
	}
	return append([]byte(nil), raw...), ""
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := time.Parse("Mon, 02 Jan 2006 15:04:05 GMT", v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
