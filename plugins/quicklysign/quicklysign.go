// Package quicklysign shapes deliveries as QuicklySign's subscription callbacks:
//
//	POST <callback url>
//	Content-Type: application/json
//
//	{"subscription_key":"<subscription>","entity_key":"<document key>","entity_type":"Document","callback_event":"entity_updated"}
//
// The body says which document changed and how, never what changed: the receiver fetches the
// document with its own credentials. A subscription made through QuicklySign's v1 API (option
// api=v1) names its key webhook_key instead of subscription_key, as v1 renamed subscriptions to
// webhooks. QuicklySign signs nothing, so neither does this plugin.
//
// Only 200 counts as received ("the callback url must return 200 status code for success"): any
// other answer, 201 and 204 included, is tried again, no sooner than a Retry-After asks. No answer
// disables a subscription, not even 410: integrator code written for QuicklySign never learned
// that 410 means anything.
package quicklysign

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// Name is the plugin's name: the format of its subscriptions.
const Name = "quicklysign"

// The subscription option that says which of QuicklySign's APIs made the subscription.
const (
	OptionAPI = "api"
	APIv0     = "v0"
	APIv1     = "v1"
)

// events is QuicklySign's vocabulary: the canonical document events and, for each, the callback
// event constant and the entity type a receiver is told. The compatible API reads it from the
// manifest.
var events = []sdk.EventType{
	{Type: "document.update", Name: "entity_updated", Group: "Document"},
	{Type: "document.status_change", Name: "document_status_changed", Group: "Document"},
	{Type: "document.finalize", Name: "final_document_generated", Group: "Document"},
}

// Plugin is the quicklysign plugin, registered by the wasm entry point and used natively by tests.
var Plugin = sdk.Plugin{
	Manifest: sdk.Manifest{
		Name:        Name,
		Version:     "1.0.0",
		Description: "QuicklySign subscription callbacks: a JSON POST naming the subscription, the document and the callback event; only 200 counts as received",
		Events:      events,
		Options: []sdk.Option{{
			Name:        OptionAPI,
			Description: `the QuicklySign API that made the subscription: "v1" names its key webhook_key in callbacks, "v0" subscription_key`,
			Default:     APIv0,
			Values:      []string{APIv0, APIv1},
		}},
		SampleEvent: []byte(`{"type":"document.update","entity":{"type":"document","id":"ahNkZXZ-cXVpY2tseXNpZ24tZGV2chULEghEb2N1bWVudBiAgICAgMDvCww"},"data":{}}`),
	},
	Shape:      Shape,
	OnResponse: OnResponse,
}

// Shape builds the callback for one delivery.
func Shape(in *sdk.Input) (*sdk.Request, error) {
	e, ok := eventType(in.Event.Type)
	if !ok {
		return nil, errors.New("quicklysign has no callback event for " + strconv.Quote(in.Event.Type) + "; it sends document.update, document.status_change and document.finalize")
	}
	key := "subscription_key"
	if in.Subscription.Options[OptionAPI] == APIv1 {
		key = "webhook_key"
	}
	w := wire.NewWriter(make([]byte, 0, 160+len(in.Subscription.ID)+len(in.Event.Entity.ID)))
	w.BeginObject()
	w.StringField(key, in.Subscription.ID)
	w.StringField("entity_key", in.Event.Entity.ID)
	w.StringField("entity_type", e.Group)
	w.StringField("callback_event", e.Name)
	w.EndObject()
	return &sdk.Request{
		Method: "POST",
		Headers: []sdk.Header{
			{Name: "Content-Type", Value: "application/json"},
			// Not QuicklySign's: the delivery's id, the same on every retry, so a receiver that
			// cares can drop duplicates. Receivers that do not look at it lose nothing.
			{Name: "X-Switchyard-Delivery-Id", Value: in.Delivery.ID},
		},
		Body: w.Buf,
	}, nil
}

func eventType(t string) (sdk.EventType, bool) {
	for _, e := range events {
		if e.Type == t {
			return e, true
		}
	}
	return sdk.EventType{}, false
}

// OnResponse counts 200 as received and retries everything else.
func OnResponse(in *sdk.Input) (*sdk.Verdict, error) {
	if in.Response.Status == 200 {
		return &sdk.Verdict{Outcome: sdk.OutcomeSuccess}, nil
	}
	return &sdk.Verdict{
		Outcome:    sdk.OutcomeRetry,
		RetryAfter: RetryAfter(in.Response.Header("Retry-After"), in.Now()),
		Message:    "the receiver answered " + strconv.Itoa(in.Response.Status) + "; a QuicklySign callback counts as received only with 200",
	}, nil
}

// httpDates are the date forms HTTP allows in Retry-After (RFC 9110 section 5.6.7): IMF-fixdate,
// then the obsolete RFC 850 and asctime forms.
var httpDates = []string{"Mon, 02 Jan 2006 15:04:05 GMT", "Monday, 02-Jan-06 15:04:05 GMT", "Mon Jan _2 15:04:05 2006"}

// RetryAfter reads a Retry-After value, in seconds or as an HTTP date, as a wait from now. It is 0
// when the value is absent, unreadable or already past; the host bounds long waits.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64((1<<63-1)/time.Second) {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	for _, layout := range httpDates {
		if t, err := time.Parse(layout, v); err == nil {
			return max(0, t.Sub(now))
		}
	}
	return 0
}
