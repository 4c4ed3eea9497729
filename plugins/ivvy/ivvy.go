// Package ivvy shapes deliveries as iVvy sends its notifications: through an AWS SNS HTTP(S)
// envelope, so a receiver written for iVvy validates them the SNS way and works unchanged.
//
// A new subscription is first sent a SubscriptionConfirmation (the on_subscribe hook); nothing else
// is delivered until the receiver visits its SubscribeURL. Then every event arrives as
//
//	POST <subscription url>
//	Content-Type: text/plain; charset=UTF-8
//	x-amz-sns-message-type: Notification
//	x-amz-sns-message-id: <MessageId>
//	x-amz-sns-topic-arn: <TopicArn>
//	x-amz-sns-subscription-arn: <TopicArn>:<uuid of the subscription>
//
//	{"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
//	 "SigningCertURL", "UnsubscribeURL"}
//
// Signature is SNS's: the base64 RSASSA-PKCS1-v1_5 signature, made by the host with the server key
// (sdk.KeyServer), of "Key\nValue\n" for each signed key present, in byte order (Notification:
// Message, MessageId, Subject, Timestamp, TopicArn, Type; SubscriptionConfirmation: Message,
// MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type), with SHA-1 for SignatureVersion "1"
// and SHA-256 for "2" (the subscription option signature_version, default "2"). SigningCertURL is
// the server key's certificate.
//
// Message is the iVvy message, as a JSON string: TxnId, Region, Timestamp (the event's time, epoch
// seconds), AccountId, Subject (CompanyAdded, ...), Body (a JSON string), SourceType, SourceInfo,
// Signature and SigningPublicKeyPath. Its Signature is this package's own (iVvy does not publish
// what its inner signature covers): the base64 RSASSA-PKCS1-v1_5 SHA-256 signature, with the same
// server key, of "Key\nValue\n" for AccountId, Body, Region, SourceInfo (when not null),
// SourceType, Subject, Timestamp and TxnId, in that (byte) order, numbers in decimal;
// SigningPublicKeyPath is the path of the certificate's URL.
//
// Identifiers are derived, never stored: MessageId is a UUID (version 5) of the delivery ID, so a
// retry carries the same one, as SNS's retries do; TxnId is 32 hex digits of a hash of the event
// ID, the same for every subscriber; the topic ARN is derived from the account, the app and the
// endpoint (TopicArn), and the subscription ARN from the topic and the subscription.
package ivvy

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/wire"
)

// Options a subscription may set.
const (
	// OptionEndpoint names the iVvy endpoint (companiesEndpoint, ...) the subscription is for: its
	// topic. The compatible API sets it; without it a notification's topic follows its event.
	OptionEndpoint = "endpoint"
	// OptionSignatureVersion is SNS's SignatureVersion: "1" (SHA-1) or "2" (SHA-256).
	OptionSignatureVersion = "signature_version"
	// OptionRegion is the Region of messages and topic ARNs.
	OptionRegion = "region"

	DefaultRegion           = "ap-southeast-2"
	DefaultSignatureVersion = "2"
)

// The endpoint keys of iVvy's notifications.
const (
	EndpointCompanies = "companiesEndpoint"
	EndpointContacts  = "contactsEndpoint"
	EndpointCRM       = "crmEndpoint"
	EndpointPayments  = "paymentsEndpoint"
	EndpointVenues    = "venuesEndpoint"
	EndpointEvents    = "eventsEndpoint"
)

// events maps canonical event types to iVvy's Subjects (Name) and endpoint keys (Group). iVvy
// documents no Subjects for eventsEndpoint yet; those below follow its pattern.
var events = []sdk.EventType{
	{Type: "client.create", Name: "CompanyAdded", Group: EndpointCompanies},
	{Type: "client.update", Name: "CompanyUpdated", Group: EndpointCompanies},
	{Type: "client.delete", Name: "CompanyDeleted", Group: EndpointCompanies},
	{Type: "contact.create", Name: "ContactAdded", Group: EndpointContacts},
	{Type: "contact.update", Name: "ContactUpdated", Group: EndpointContacts},
	{Type: "contact.delete", Name: "ContactDeleted", Group: EndpointContacts},
	{Type: "opportunity.create", Name: "OpportunityAdded", Group: EndpointCRM},
	{Type: "opportunity.update", Name: "OpportunityUpdated", Group: EndpointCRM},
	{Type: "opportunity.delete", Name: "OpportunityDeleted", Group: EndpointCRM},
	{Type: "task.create", Name: "CrmEventTaskAdded", Group: EndpointCRM},
	{Type: "task.update", Name: "CrmEventTaskUpdated", Group: EndpointCRM},
	{Type: "task.delete", Name: "CrmEventTaskDeleted", Group: EndpointCRM},
	{Type: "activity.create", Name: "CrmEventActivityAdded", Group: EndpointCRM},
	{Type: "activity.update", Name: "CrmEventActivityUpdated", Group: EndpointCRM},
	{Type: "activity.delete", Name: "CrmEventActivityDeleted", Group: EndpointCRM},
	{Type: "invoice.create", Name: "InvoiceAdded", Group: EndpointPayments},
	{Type: "invoice.update", Name: "InvoiceUpdated", Group: EndpointPayments},
	// A payment applied to an invoice is, to iVvy, an update of the invoice.
	{Type: "payment.create", Name: "InvoiceUpdated", Group: EndpointPayments},
	{Type: "booking.create", Name: "BookingAdded", Group: EndpointVenues},
	{Type: "booking.update", Name: "BookingUpdated", Group: EndpointVenues},
	{Type: "booking.move", Name: "BookingMoved", Group: EndpointVenues},
	{Type: "booking.delete", Name: "BookingDeleted", Group: EndpointVenues},
	{Type: "booking_accommodation.create", Name: "BookingAccommodationAdded", Group: EndpointVenues},
	{Type: "booking_accommodation.update", Name: "BookingAccommodationUpdated", Group: EndpointVenues},
	{Type: "booking_accommodation.delete", Name: "BookingAccommodationDeleted", Group: EndpointVenues},
	{Type: "booking_room_reservation.create", Name: "BookingRoomReservationAdded", Group: EndpointVenues},
	{Type: "booking_room_reservation.update", Name: "BookingRoomReservationUpdated", Group: EndpointVenues},
	{Type: "booking_room_reservation.delete", Name: "BookingRoomReservationDeleted", Group: EndpointVenues},
	{Type: "event.create", Name: "EventAdded", Group: EndpointEvents},
	{Type: "event.update", Name: "EventUpdated", Group: EndpointEvents},
	{Type: "event.delete", Name: "EventDeleted", Group: EndpointEvents},
}

// Plugin is the ivvy plugin, registered by the wasm entry point and used natively by tests.
var Plugin = sdk.Plugin{
	Manifest: sdk.Manifest{
		Name:        "ivvy",
		Version:     "1.1.0",
		Description: "iVvy notifications: AWS SNS envelopes, RSA-signed, after a SubscriptionConfirmation",
		Events:      events,
		Options: []sdk.Option{
			{Name: OptionEndpoint, Description: "the iVvy endpoint key this subscription is for (its topic)",
				Values: []string{EndpointCompanies, EndpointContacts, EndpointCRM, EndpointPayments, EndpointVenues, EndpointEvents}},
			{Name: OptionSignatureVersion, Description: `SNS SignatureVersion: "1" signs with RSA-SHA1, "2" with RSA-SHA256`,
				Default: DefaultSignatureVersion, Values: []string{"1", "2"}},
			{Name: OptionRegion, Description: "the Region of messages and topic ARNs", Default: DefaultRegion},
		},
		SampleEvent: []byte(`{"type":"client.create","entity":{"type":"client","id":"60825"},"data":{"id":60825,"businessName":"Test Company 123"}}`),
	},
	Shape:       Shape,
	OnSubscribe: OnSubscribe,
}

// Shape builds the SNS Notification for one event.
func Shape(in *sdk.Input) (*sdk.Request, error) {
	var et *sdk.EventType
	for i := range events {
		if sdk.MatchType(events[i].Type, in.Event.Type) {
			et = &events[i]
			break
		}
	}
	if et == nil {
		return nil, fmt.Errorf("ivvy has no notification for %s", in.Event.Type)
	}
	if in.Delivery.CertificateURL == "" {
		return nil, errors.New("the server offers no signing certificate URL; SNS messages cannot be verified without one")
	}
	sv, err := signatureVersion(in)
	if err != nil {
		return nil, err
	}
	endpoint := in.Subscription.Options[OptionEndpoint]
	if endpoint == "" {
		endpoint = et.Group
	}
	topic := TopicArn(region(in), in.Subscription.AccountID, in.Subscription.AppID, endpoint)
	message, err := ivvyMessage(in, et.Name)
	if err != nil {
		return nil, err
	}
	m := snsMessage{
		Type: "Notification", MessageID: MessageID(in.Delivery.ID), TopicArn: topic, Message: message,
		Timestamp: snsTime(in.Now()), SignatureVersion: sv, SigningCertURL: in.Delivery.CertificateURL,
		UnsubscribeURL: in.Delivery.UnsubscribeURL,
	}
	if err := m.sign(in); err != nil {
		return nil, err
	}
	req := m.request()
	req.SetHeader("x-amz-sns-subscription-arn", SubscriptionArn(topic, in.Subscription.ID))
	return req, nil
}

// OnSubscribe builds the SubscriptionConfirmation a new subscription is sent.
func OnSubscribe(in *sdk.Input) (*sdk.Request, error) {
	if in.Delivery.ConfirmURL == "" {
		return nil, errors.New("the host offered no confirmation URL")
	}
	if in.Delivery.CertificateURL == "" {
		return nil, errors.New("the server offers no signing certificate URL; SNS messages cannot be verified without one")
	}
	sv, err := signatureVersion(in)
	if err != nil {
		return nil, err
	}
	topic := TopicArn(region(in), in.Subscription.AccountID, in.Subscription.AppID, in.Subscription.Options[OptionEndpoint])
	m := snsMessage{
		Type: "SubscriptionConfirmation", MessageID: MessageID(in.Delivery.ID), Token: confirmToken(in.Delivery.ConfirmURL),
		TopicArn:     topic,
		Message:      "You have chosen to subscribe to the topic " + topic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		SubscribeURL: in.Delivery.ConfirmURL, Timestamp: snsTime(in.Now()), SignatureVersion: sv,
		SigningCertURL: in.Delivery.CertificateURL,
	}
	if err := m.sign(in); err != nil {
		return nil, err
	}
	return m.request(), nil
}

// snsMessage is one SNS HTTP message; empty optional fields are left out.
type snsMessage struct {
	Type, MessageID, Token, TopicArn, Subject, Message, SubscribeURL, Timestamp string
	SignatureVersion, Signature, SigningCertURL, UnsubscribeURL                 string
}

// StringToSign is what SNS signs for a message of m's type: "Key\nValue\n" for each signed key
// present, in byte order.
func (m *snsMessage) StringToSign() []byte {
	type kv struct{ k, v string }
	var fields []kv
	if m.Type == "SubscriptionConfirmation" || m.Type == "UnsubscribeConfirmation" {
		fields = []kv{{"Message", m.Message}, {"MessageId", m.MessageID}, {"SubscribeURL", m.SubscribeURL},
			{"Timestamp", m.Timestamp}, {"Token", m.Token}, {"TopicArn", m.TopicArn}, {"Type", m.Type}}
	} else {
		fields = []kv{{"Message", m.Message}, {"MessageId", m.MessageID}}
		if m.Subject != "" {
			fields = append(fields, kv{"Subject", m.Subject})
		}
		fields = append(fields, kv{"Timestamp", m.Timestamp}, kv{"TopicArn", m.TopicArn}, kv{"Type", m.Type})
	}
	var b []byte
	for _, f := range fields {
		b = append(b, f.k...)
		b = append(b, '\n')
		b = append(b, f.v...)
		b = append(b, '\n')
	}
	return b
}

func (m *snsMessage) sign(in *sdk.Input) error {
	alg := sdk.RSASHA256
	if m.SignatureVersion == "1" {
		alg = sdk.RSASHA1
	}
	sig, err := in.Sign(sdk.KeyServer, alg, m.StringToSign())
	if err != nil {
		return fmt.Errorf("sign with the server key: %w", err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
}

// request lays the message out as SNS does: pretty-printed JSON, in SNS's key order.
func (m *snsMessage) request() *sdk.Request {
	b := make([]byte, 0, 1024+len(m.Message)*11/10)
	b = append(b, '{')
	first := true
	field := func(k, v string, always bool) {
		if v == "" && !always {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, "\n  "...)
		b = wire.AppendString(b, k)
		b = append(b, " : "...)
		b = wire.AppendString(b, v)
	}
	field("Type", m.Type, true)
	field("MessageId", m.MessageID, true)
	field("Token", m.Token, false)
	field("TopicArn", m.TopicArn, true)
	field("Subject", m.Subject, false)
	field("Message", m.Message, true)
	field("SubscribeURL", m.SubscribeURL, false)
	field("Timestamp", m.Timestamp, true)
	field("SignatureVersion", m.SignatureVersion, true)
	field("Signature", m.Signature, true)
	field("SigningCertURL", m.SigningCertURL, true)
	field("UnsubscribeURL", m.UnsubscribeURL, false)
	b = append(b, "\n}"...)
	return &sdk.Request{
		Method: "POST",
		Headers: []sdk.Header{
			{Name: "Content-Type", Value: "text/plain; charset=UTF-8"},
			{Name: "x-amz-sns-message-type", Value: m.Type},
			{Name: "x-amz-sns-message-id", Value: m.MessageID},
			{Name: "x-amz-sns-topic-arn", Value: m.TopicArn},
		},
		Body: b,
	}
}

// ivvyMessage builds the Message of a Notification: iVvy's message as JSON text.
func ivvyMessage(in *sdk.Input, subject string) (string, error) {
	body, err := messageBody(in, subject)
	if err != nil {
		return "", err
	}
	// The Body travels as a JSON string, whose encoder writes each byte that is not UTF-8 as
	// U+FFFD; the signature must cover the text the receiver decodes, not the bytes before that.
	body = validUTF8(body)
	// SourceType is 1 (API) for a change the publisher says came through its API, and its
	// SourceInfo the source's info as published; otherwise 0 (Unknown), and SourceInfo the user
	// the event names, if any.
	sourceType := 0
	var sourceInfo []byte
	if src := in.Event.Source; src != nil && src.Type == sdk.SourceAPI {
		sourceType = 1
		if len(src.Info) > 0 {
			sourceInfo = src.Info
		}
	}
	if u := in.Event.User; u != nil && sourceInfo == nil {
		w := wire.NewWriter(nil)
		w.BeginObject()
		w.StringFieldOmitEmpty("userId", u.ID)
		w.StringFieldOmitEmpty("name", u.Name)
		w.StringFieldOmitEmpty("email", u.Email)
		w.EndObject()
		sourceInfo = w.Buf
	}
	txn := sha256.Sum256([]byte(in.Event.ID))
	txnID := hex.EncodeToString(txn[:16])
	ts := in.Event.OccurredAt.Unix()
	reg := region(in)

	signed := make([]byte, 0, len(body)+512)
	kv := func(k, v string) {
		signed = append(signed, k...)
		signed = append(signed, '\n')
		signed = append(signed, v...)
		signed = append(signed, '\n')
	}
	kv("AccountId", in.Event.AccountID)
	kv("Body", string(body))
	kv("Region", reg)
	if sourceInfo != nil {
		kv("SourceInfo", string(sourceInfo))
	}
	kv("SourceType", strconv.Itoa(sourceType))
	kv("Subject", subject)
	kv("Timestamp", strconv.FormatInt(ts, 10))
	kv("TxnId", txnID)
	sig, err := in.Sign(sdk.KeyServer, sdk.RSASHA256, signed)
	if err != nil {
		return "", fmt.Errorf("sign the iVvy message with the server key: %w", err)
	}

	w := wire.NewWriter(make([]byte, 0, len(body)*12/10+768))
	w.BeginObject()
	w.StringField("TxnId", txnID)
	w.StringField("Region", reg)
	w.IntField("Timestamp", ts)
	w.StringField("AccountId", in.Event.AccountID)
	w.StringField("Subject", subject)
	w.Key("Body")
	w.StringBytes(body)
	w.IntField("SourceType", int64(sourceType))
	w.Key("SourceInfo")
	if sourceInfo != nil {
		w.StringBytes(sourceInfo)
	} else {
		w.Null()
	}
	w.StringField("Signature", base64.StdEncoding.EncodeToString(sig))
	w.StringField("SigningPublicKeyPath", urlPath(in.Delivery.CertificateURL))
	w.EndObject()
	return string(w.Buf), nil
}

// validUTF8 replaces each byte of b that is not part of valid UTF-8 with U+FFFD, as the wire
// package's string encoder does (one replacement per byte, unlike bytes.ToValidUTF8).
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// messageBody is the Body iVvy documents for each kind of Subject: {"data"} when something was
// added, {"data", "previousData"} when it changed, and its ids when it was deleted.
func messageBody(in *sdk.Input, subject string) ([]byte, error) {
	w := wire.NewWriter(make([]byte, 0, len(in.Event.Data)+len(in.Event.Previous)+64))
	w.BeginObject()
	switch {
	case strings.HasSuffix(subject, "Deleted"):
		key := idKey(subject)
		w.Key(key)
		writeID(w, in.Event.Entity.ID)
		// The publisher may send the other ids iVvy lists (venueId, bookingStatus, ...) as data.
		if data := in.Event.Data; len(data) > 0 && data[0] == '{' {
			r := wire.NewReader(data)
			err := r.Object(func(k []byte) error {
				raw, err := r.Raw()
				if err != nil || string(k) == key {
					return err
				}
				w.Key(string(k))
				w.Raw(raw)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("event data: %w", err)
			}
		}
	case strings.HasSuffix(subject, "Added"):
		w.RawField("data", in.Event.Data)
	default: // Updated, Moved
		w.RawField("data", in.Event.Data)
		w.RawField("previousData", in.Event.Previous)
	}
	w.EndObject()
	return w.Buf, nil
}

// idKey is the key of a deleted entity's id, as iVvy names it: the last word of the Subject's
// stem, so CompanyDeleted gives companyId, CrmEventTaskDeleted taskId, BookingRoomReservationDeleted
// reservationId.
func idKey(subject string) string {
	stem := strings.TrimSuffix(subject, "Deleted")
	last := 0
	for i, r := range stem {
		if unicode.IsUpper(r) {
			last = i
		}
	}
	word := stem[last:]
	return strings.ToLower(word[:1]) + word[1:] + "Id"
}

// writeID writes an id as a number when it is one (iVvy's ids are integers), else as a string.
func writeID(w *wire.Writer, id string) {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil && strconv.FormatInt(n, 10) == id && n < 1<<53 {
		w.Int(n)
		return
	}
	w.String(id)
}

func signatureVersion(in *sdk.Input) (string, error) {
	switch v := in.Subscription.Options[OptionSignatureVersion]; v {
	case "":
		return DefaultSignatureVersion, nil
	case "1", "2":
		return v, nil
	default:
		return "", fmt.Errorf("signature_version %q: want 1 or 2", v)
	}
}

func region(in *sdk.Input) string {
	if r := in.Subscription.Options[OptionRegion]; r != "" {
		return r
	}
	return DefaultRegion
}

// TopicArn is the SNS-style ARN of the topic an app's subscription to an account's endpoint
// belongs to, shaped like iVvy's: arn:aws:sns:REGION:NNNNNNNNNNNN:iVvy_Account_ID_HASH_NotifTopic.
// The twelve digits and the hash are derived from the account and the app, so each app sees its
// own topics and the ARN needs no storage.
func TopicArn(region, accountID, appID, endpoint string) string {
	h := sha256.Sum256([]byte("switchyard ivvy topic\x00" + accountID + "\x00" + appID))
	acct := binary.BigEndian.Uint64(h[:8]) % 1_000_000_000_000
	name := strings.TrimSuffix(endpoint, "Endpoint")
	if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	var b strings.Builder
	b.WriteString("arn:aws:sns:")
	b.WriteString(region)
	b.WriteString(":")
	b.WriteString(fmt.Sprintf("%012d", acct))
	b.WriteString(":iVvy_Account_")
	// Topic names take letters, digits, '-' and '_' only.
	for _, r := range accountID {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	b.WriteString("_")
	b.WriteString(hex.EncodeToString(h[8:28]))
	b.WriteString("_Notif")
	b.WriteString(name)
	return b.String()
}

// SubscriptionArn is the ARN of a subscription to topicArn: the topic's ARN and a UUID.
func SubscriptionArn(topicArn, subscriptionID string) string {
	return topicArn + ":" + uuid5("subscription:"+subscriptionID)
}

// MessageID is the SNS MessageId of a delivery: the same for every attempt.
func MessageID(deliveryID string) string { return uuid5("delivery:" + deliveryID) }

// namespace is the UUID namespace of the names hashed into this package's UUIDs.
var namespace = [16]byte{0x6b, 0x1f, 0x3c, 0x52, 0x94, 0x0e, 0x4d, 0x7a, 0x8c, 0x21, 0x5e, 0x90, 0xa7, 0x3d, 0x11, 0xc4}

// uuid5 returns the RFC 9562 version 5 (SHA-1, name-based) UUID of name in namespace.
func uuid5(name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// snsTime formats a time as SNS does: UTC, milliseconds, Z.
func snsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// confirmToken is the Token of a confirmation: the Token query parameter of the confirmation URL
// when it has one, else the path segment before /confirm.
func confirmToken(confirmURL string) string {
	u, err := url.Parse(confirmURL)
	if err != nil {
		return ""
	}
	if tok := u.Query().Get("Token"); tok != "" {
		return tok
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if n := len(segs); n >= 2 && segs[n-1] == "confirm" {
		return segs[n-2]
	}
	return ""
}

// urlPath is the path of a URL.
func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}
