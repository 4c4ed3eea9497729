// Package upsales shapes deliveries as Upsales app requests. Switchyard calls the app, and the app
// may call back, in its answer or later through a one-time URL:
//
//	POST <subscription url>/<object><insert|update|delete>/<entity id>     (/clientinsert/42)
//	content-type: application/json
//
//	{"appId": 12, "date": "<when the request is sent, UTC>", "authenticationKey": "<the app's key>",
//	 "customer": {"id", "name"}, "user": {"id", "name", "email"}, "appData": {...},
//	 "userAppData": {...}, "data": {"object": <the entity>}, "callbackUrl": "https://.../callback"}
//
// for the objects client, contact, order, agreement, activity and appointment. The manifest maps
// each canonical event type to its trigger name: it is the one place that vocabulary lives.
//
// authenticationKey is the app's shared key, which the app compares to tell that a call is genuine.
// The plugin never holds it: it writes a placeholder (sdk.Input.Secret) that the host replaces after
// shaping. appId and customer.id are numbers in Upsales: they are the app's and the account's
// external_id (the platform's numeric ids) when the operator gave them one; otherwise customer.id
// is the account's id, and user.id the user's, as a number when it is a decimal number and a string
// otherwise, and appId is the app's id, a string. date is when this request is sent (the host's
// clock), as Upsales dates a request when it runs the app, not when the object changed. user is present when the event names one; userAppData only
// when the subscription option user_configurable is "true" and the event names a user. appData and
// userAppData are what the host keeps for the app (Input.State: {"appData", "userAppData"}), {} when
// nothing was saved. callbackUrl is present while the request's callback is still open.
//
// The app has 30 seconds to answer. A 2xx answer whose JSON body has a "callback" object is the
// synchronous app callback: OnResponse hands it to the host to apply (Verdict.Keep, as a Kept
// envelope). A callback of 100 kb or more ("less than 100kb", Upsales says), or one that is not an
// object, is refused: the envelope says why, the host writes it on the request's log entry, and the
// callback URL stays open. The delivery still succeeds: the app did answer. 410 disables the
// subscription; any other answer is retried, no sooner than a Retry-After asks.
package upsales

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// MaxCallbackBytes is Upsales' 100 kb: an app callback object, in an answer or posted later, must
// be less than it ("has to be less than 100kb"), so a callback of exactly this many bytes is refused.
const MaxCallbackBytes = 100 << 10

// Kept is what OnResponse hands the host (Verdict.Keep): the answer's callback object, or why it
// was refused. Exactly one is set.
type Kept struct {
	Callback json.RawMessage `json:"callback,omitempty"`
	Refused  string          `json:"refused,omitempty"`
}

// OptionUserConfigurable is the subscription option that makes an app user-configurable: it then
// gets userAppData, and may save it.
const OptionUserConfigurable = "user_configurable"

// Plugin is the upsales plugin, registered by the wasm entry point and used natively by tests.
var Plugin = sdk.Plugin{Manifest: manifest, Shape: Shape, OnResponse: OnResponse}

var manifest = sdk.Manifest{
	Name:        "upsales",
	Version:     "1.1.0",
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
	if in.App.ExternalID > 0 {
		w.IntField("appId", in.App.ExternalID)
	} else {
		w.StringField("appId", appID)
	}
	w.Key("date")
	w.Time(in.Now())
	w.StringField("authenticationKey", in.Secret(sdk.KeyApp, sdk.SecretJSON))
	w.Key("customer")
	w.BeginObject()
	if in.Account.ExternalID > 0 {
		w.IntField("id", in.Account.ExternalID)
	} else {
		idField(w, "id", in.Account.ID)
	}
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
		v := &sdk.Verdict{Outcome: sdk.OutcomeSuccess, Message: note}
		if callback != nil || note != "" {
			w := wire.NewWriter(make([]byte, 0, len(callback)+len(note)+32))
			w.BeginObject()
			if callback != nil {
				w.RawField("callback", callback)
			} else {
				w.StringField("refused", note)
			}
			w.EndObject()
			v.Keep = w.Buf
		}
		return v, nil
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
	if err != nil && len(body) >= manifest.MaxResponseBytes && bytes.Contains(body, []byte(`"callback"`)) {
		// The host kept only the first MaxResponseBytes of the answer: a callback in it is far
		// over 100 kb, and must not vanish without a word.
		return nil, fmt.Sprintf("the answer is over %d bytes and cannot be read whole; an app callback object must be less than 100 kb (%d bytes); refused", manifest.MaxResponseBytes, MaxCallbackBytes)
	}
	if err != nil || raw == nil || string(raw) == "null" {
		return nil, ""
	}
	if raw[0] != '{' {
		return nil, "the answer's callback is not an object; refused"
	}
	if len(raw) >= MaxCallbackBytes {
		return nil, fmt.Sprintf("the answer's callback is %d bytes; an app callback object must be less than 100 kb (%d bytes); refused", len(raw), MaxCallbackBytes)
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
