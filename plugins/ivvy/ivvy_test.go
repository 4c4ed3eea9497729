package ivvy_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/receivers"
	"github.com/switchyard/switchyard/plugins/ivvy"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testKey is a key made for these tests only (testdata/server-key.pem): RSASSA-PKCS1-v1_5
// signatures are deterministic, so golden files can pin them.
func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

var now = time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC)

// call runs the plugin one way (natively, or through the compiled module) and returns the request
// of its shape (event deliveries) or on_subscribe (handshakes).
type call func(t *testing.T, in *sdk.Input) (*sdk.Request, error)

func native(t *testing.T, in *sdk.Input) (*sdk.Request, error) {
	h := &sdktest.Host{Keys: signing.Keyring{Server: testKey(t)}, Clock: func() time.Time { return now }}
	if in.Delivery.Kind == sdk.KindHandshake {
		return sdktest.OnSubscribe(&ivvy.Plugin, h, in)
	}
	return sdktest.Shape(&ivvy.Plugin, h, in)
}

func wasm(t *testing.T, in *sdk.Input) (*sdk.Request, error) {
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t), ServerKey: testKey(t), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := rt.Load(context.Background(), runtimetest.Builtin(t, "ivvy"), runtime.Trusted, runtime.GrantServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if in.Delivery.Kind == sdk.KindHandshake {
		return p.OnSubscribe(context.Background(), in, &signing.Keyring{})
	}
	return p.Shape(context.Background(), in, &signing.Keyring{})
}

var both = map[string]call{"native": native, "wasm": wasm}

func do(t *testing.T, run call, in *sdk.Input) *sdk.Request {
	t.Helper()
	req, err := run(t, in)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

const certURL = "https://sy.example/hooks/certificates/0123456789abcdef0123456789abcdef.pem"

func subscription(options map[string]string) sdk.Subscription {
	return sdk.Subscription{ID: "sub_01", AccountID: "14", AppID: "app_01", URL: "https://receiver.example/sns", Format: "ivvy", Options: options}
}

func event(typ, data, previous string) *sdk.Input {
	return &sdk.Input{
		Event: sdk.Event{
			ID: "evt_01", Type: typ, AccountID: "14", Entity: sdk.Entity{Type: "client", ID: "60825"},
			OccurredAt: time.Unix(1710115244, 0), Data: []byte(data), Previous: []byte(previous),
		},
		Subscription: subscription(map[string]string{ivvy.OptionEndpoint: ivvy.EndpointCompanies}),
		Delivery: sdk.Delivery{
			ID: "dlv_01", Attempt: 1, Kind: sdk.KindEvent, CertificateURL: certURL,
			UnsubscribeURL: "https://sy.example/compat/ivvy/sns?Action=Unsubscribe&Token=tok",
		},
	}
}

// apiEvent marks an event as published for a change made through the platform's API with a key.
func apiEvent(in *sdk.Input) *sdk.Input {
	in.Event.Source = &sdk.Source{Type: sdk.SourceAPI, Info: []byte(`{"apiKey":"crm-sync"}`)}
	return in
}

func handshake(options map[string]string) *sdk.Input {
	return &sdk.Input{
		Subscription: subscription(options),
		Delivery: sdk.Delivery{
			ID: "dlv_02", Attempt: 1, Kind: sdk.KindHandshake, CertificateURL: certURL,
			ConfirmURL:     "https://sy.example/compat/ivvy/sns?Action=ConfirmSubscription&TopicArn=x&Token=Zm9vYmFy",
			UnsubscribeURL: "https://sy.example/compat/ivvy/sns?Action=Unsubscribe&Token=Zm9vYmFy",
		},
	}
}

type envelope map[string]string

func parse(t *testing.T, req *sdk.Request) envelope {
	t.Helper()
	var m envelope
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("body is not an SNS JSON document: %v\n%s", err, req.Body)
	}
	return m
}

func header(req *sdk.Request, name string) string {
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// opensslVerify checks a signature with `openssl dgst -verify`, against the test key's public
// half, over the string to sign rebuilt here from the parsed JSON as SNS's documentation says.
func opensslVerify(t *testing.T, digest string, msg []byte, sigB64 string) error {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed to verify signatures independently: %v", err)
	}
	dir := t.TempDir()
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		t.Fatal(err)
	}
	msgFile, sigFile := filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
	if err := os.WriteFile(msgFile, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "dgst", "-"+digest, "-verify", filepath.Join("testdata", "server-pub.pem"), "-signature", sigFile, msgFile).CombinedOutput()
	if err != nil {
		return &verifyError{string(out)}
	}
	return nil
}

type verifyError struct{ out string }

func (e *verifyError) Error() string { return "openssl: " + e.out }

func stringToSign(m envelope, keys ...string) []byte {
	var b strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	return []byte(b.String())
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNotificationIsAnSNSMessageThatOpenSSLVerifies(t *testing.T) {
	t.Parallel()
	for name, run := range both {
		for _, sv := range []string{"1", "2"} {
			t.Run(name+"/v"+sv, func(t *testing.T) {
				in := event("client.create", `{"id":60825,"businessName":"Test Company ✓ \"123\"","url":"https://a/b"}`, "")
				in.Subscription.Options[ivvy.OptionSignatureVersion] = sv
				req := do(t, run, in)
				m := parse(t, req)
				topic := ivvy.TopicArn(ivvy.DefaultRegion, "14", "app_01", ivvy.EndpointCompanies)
				if m["Type"] != "Notification" || m["TopicArn"] != topic || m["SignatureVersion"] != sv ||
					m["SigningCertURL"] != certURL || m["UnsubscribeURL"] != in.Delivery.UnsubscribeURL ||
					m["Timestamp"] != "2026-11-23T10:00:00.123Z" || !uuidPattern.MatchString(m["MessageId"]) {
					t.Errorf("envelope %v", m)
				}
				if _, ok := m["Subject"]; ok {
					t.Error("an SNS Subject was sent though none was set")
				}
				wantHeaders := map[string]string{
					"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification",
					"x-amz-sns-message-id": m["MessageId"], "x-amz-sns-topic-arn": topic,
					"x-amz-sns-subscription-arn": ivvy.SubscriptionArn(topic, "sub_01"),
				}
				for k, v := range wantHeaders {
					if got := header(req, k); got != v {
						t.Errorf("header %s = %q, want %q", k, got, v)
					}
				}
				digest := map[string]string{"1": "sha1", "2": "sha256"}[sv]
				msg := stringToSign(m, "Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
				if err := opensslVerify(t, digest, msg, m["Signature"]); err != nil {
					t.Errorf("signature does not verify: %v", err)
				}
				other := map[string]string{"1": "sha256", "2": "sha1"}[sv]
				if opensslVerify(t, other, msg, m["Signature"]) == nil {
					t.Errorf("the signature also verified with %s: the check proves nothing", other)
				}
			})
		}
	}
}

func TestTheIVvyMessage(t *testing.T) {
	t.Parallel()
	for name, run := range both {
		t.Run(name, func(t *testing.T) {
			in := event("client.update", `{"id":60825,"businessName":"New"}`, `{"id":60825,"businessName":"Old"}`)
			in.Event.User = &sdk.User{ID: "u1", Name: "Ann"}
			m := parse(t, do(t, run, in))
			var msg struct {
				TxnId, Region, AccountId, Subject, Body, Signature, SigningPublicKeyPath string
				Timestamp, SourceType                                                    json.Number
				SourceInfo                                                               *string
			}
			dec := json.NewDecoder(strings.NewReader(m["Message"]))
			dec.UseNumber()
			if err := dec.Decode(&msg); err != nil {
				t.Fatalf("Message is not JSON: %v: %s", err, m["Message"])
			}
			if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(msg.TxnId) || msg.Region != "ap-southeast-2" ||
				msg.Timestamp != "1710115244" || msg.AccountId != "14" || msg.Subject != "CompanyUpdated" || msg.SourceType != "0" ||
				msg.SourceInfo == nil || *msg.SourceInfo != `{"userId":"u1","name":"Ann"}` ||
				msg.SigningPublicKeyPath != "/hooks/certificates/0123456789abcdef0123456789abcdef.pem" {
				t.Errorf("message %+v", msg)
			}
			if msg.Body != `{"data":{"id":60825,"businessName":"New"},"previousData":{"id":60825,"businessName":"Old"}}` {
				t.Errorf("body %s", msg.Body)
			}
			// The inner signature covers the other fields, as the package documents.
			signed := "AccountId\n14\nBody\n" + msg.Body + "\nRegion\nap-southeast-2\nSourceInfo\n" + *msg.SourceInfo +
				"\nSourceType\n0\nSubject\nCompanyUpdated\nTimestamp\n1710115244\nTxnId\n" + msg.TxnId + "\n"
			if err := opensslVerify(t, "sha256", []byte(signed), msg.Signature); err != nil {
				t.Errorf("inner signature: %v", err)
			}
		})
	}
}

// TestSourceType: iVvy's Source Type is 1 (API) for an event whose source is the API, with its
// info as SourceInfo; 0 (Unknown) for any other, or none, with the user as SourceInfo if named.
func TestSourceType(t *testing.T) {
	t.Parallel()
	for name, run := range both {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				name     string
				source   *sdk.Source
				user     *sdk.User
				wantType string
				wantInfo *string
			}{
				{"api with info", &sdk.Source{Type: "api", Info: []byte(`{"apiKey":"crm-sync"}`)}, &sdk.User{ID: "u1"}, "1", ptr(`{"apiKey":"crm-sync"}`)},
				{"api without info, a user", &sdk.Source{Type: "api"}, &sdk.User{ID: "u1"}, "1", ptr(`{"userId":"u1"}`)},
				{"api without info", &sdk.Source{Type: "api"}, nil, "1", nil},
				{"another source", &sdk.Source{Type: "import", Info: []byte(`{"file":"x"}`)}, nil, "0", nil},
				{"none", nil, nil, "0", nil},
			} {
				in := event("client.update", `{"id":1}`, "")
				in.Event.Source, in.Event.User = c.source, c.user
				m := parse(t, do(t, run, in))
				var msg struct {
					SourceType json.Number
					SourceInfo *string
				}
				dec := json.NewDecoder(strings.NewReader(m["Message"]))
				dec.UseNumber()
				if err := dec.Decode(&msg); err != nil {
					t.Fatal(err)
				}
				if msg.SourceType.String() != c.wantType || (msg.SourceInfo == nil) != (c.wantInfo == nil) ||
					(c.wantInfo != nil && *msg.SourceInfo != *c.wantInfo) {
					t.Errorf("%s: SourceType %s, SourceInfo %v", c.name, msg.SourceType, msg.SourceInfo)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestBodiesBySubject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, entityID, data, previous string
		subject, body                 string
	}{
		{"client.create", "60825", `{"id":60825}`, "", "CompanyAdded", `{"data":{"id":60825}}`},
		{"contact.update", "7", `{"id":7}`, "", "ContactUpdated", `{"data":{"id":7},"previousData":null}`},
		{"client.delete", "123", "", "", "CompanyDeleted", `{"companyId":123}`},
		{"contact.delete", "c-9", "null", "", "ContactDeleted", `{"contactId":"c-9"}`},
		{"task.delete", "5", "", "", "CrmEventTaskDeleted", `{"taskId":5}`},
		{"booking.delete", "234", `{"venueId":123,"bookingId":999,"bookingStatus":2,"sessionIds":[789,567]}`, "", "BookingDeleted",
			`{"bookingId":234,"venueId":123,"bookingStatus":2,"sessionIds":[789,567]}`},
		{"booking_room_reservation.delete", "567", `{"venueId":1}`, "", "BookingRoomReservationDeleted", `{"reservationId":567,"venueId":1}`},
		{"booking.move", "234", `{"id":234}`, `{"id":234,"venueId":1}`, "BookingMoved", `{"data":{"id":234},"previousData":{"id":234,"venueId":1}}`},
		{"payment.create", "9", `{"id":9}`, `{"id":9,"paid":0}`, "InvoiceUpdated", `{"data":{"id":9},"previousData":{"id":9,"paid":0}}`},
	}
	for _, c := range cases {
		in := event(c.typ, c.data, c.previous)
		in.Event.Entity.ID = c.entityID
		in.Subscription.Options = nil
		m := parse(t, do(t, native, in))
		var msg struct{ Subject, Body string }
		if err := json.Unmarshal([]byte(m["Message"]), &msg); err != nil {
			t.Fatal(err)
		}
		if msg.Subject != c.subject || msg.Body != c.body {
			t.Errorf("%s: subject %s body %s, want %s %s", c.typ, msg.Subject, msg.Body, c.subject, c.body)
		}
	}
}

func TestTopicFollowsTheEventWithoutAnEndpointOption(t *testing.T) {
	t.Parallel()
	in := event("contact.create", `{}`, "")
	in.Subscription.Options = nil
	m := parse(t, do(t, native, in))
	if want := ivvy.TopicArn("ap-southeast-2", "14", "app_01", ivvy.EndpointContacts); m["TopicArn"] != want || !strings.HasSuffix(want, "_NotifContacts") {
		t.Errorf("topic %s, want %s", m["TopicArn"], want)
	}
}

func TestSubscriptionConfirmation(t *testing.T) {
	t.Parallel()
	for name, run := range both {
		for _, sv := range []string{"1", "2"} {
			t.Run(name+"/v"+sv, func(t *testing.T) {
				in := handshake(map[string]string{ivvy.OptionEndpoint: ivvy.EndpointCompanies, ivvy.OptionSignatureVersion: sv, ivvy.OptionRegion: "stage"})
				req := do(t, run, in)
				m := parse(t, req)
				topic := ivvy.TopicArn("stage", "14", "app_01", ivvy.EndpointCompanies)
				wantMsg := "You have chosen to subscribe to the topic " + topic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message."
				if m["Type"] != "SubscriptionConfirmation" || m["Token"] != "Zm9vYmFy" || m["TopicArn"] != topic ||
					m["Message"] != wantMsg || m["SubscribeURL"] != in.Delivery.ConfirmURL || m["SignatureVersion"] != sv {
					t.Errorf("confirmation %v", m)
				}
				if _, ok := m["UnsubscribeURL"]; ok {
					t.Error("a confirmation carries no UnsubscribeURL")
				}
				if header(req, "x-amz-sns-message-type") != "SubscriptionConfirmation" || header(req, "x-amz-sns-subscription-arn") != "" {
					t.Errorf("headers %v", req.Headers)
				}
				digest := map[string]string{"1": "sha1", "2": "sha256"}[sv]
				msg := stringToSign(m, "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
				if err := opensslVerify(t, digest, msg, m["Signature"]); err != nil {
					t.Errorf("signature does not verify: %v", err)
				}
			})
		}
	}
}

func TestConfirmationTokenFromTheEngineURL(t *testing.T) {
	t.Parallel()
	in := handshake(nil)
	in.Delivery.ConfirmURL = "https://sy.example/hooks/subscriptions/abc_DEF-123/confirm"
	if m := parse(t, do(t, native, in)); m["Token"] != "abc_DEF-123" {
		t.Errorf("token %q", m["Token"])
	}
}

func TestMessageIDIsStableAcrossAttempts(t *testing.T) {
	t.Parallel()
	a, b := ivvy.MessageID("dlv_01"), ivvy.MessageID("dlv_01")
	if a != b || a == ivvy.MessageID("dlv_02") || !uuidPattern.MatchString(a) {
		t.Errorf("message ids %s %s", a, ivvy.MessageID("dlv_02"))
	}
	arn := ivvy.TopicArn("ap-southeast-2", "acc:01/x", "app_01", ivvy.EndpointCRM)
	if !regexp.MustCompile(`^arn:aws:sns:ap-southeast-2:[0-9]{12}:iVvy_Account_acc-01-x_[0-9a-f]{40}_NotifCrm$`).MatchString(arn) {
		t.Errorf("topic arn %s", arn)
	}
	if ivvy.TopicArn("ap-southeast-2", "acc", "app_02", ivvy.EndpointCRM) == ivvy.TopicArn("ap-southeast-2", "acc", "app_01", ivvy.EndpointCRM) {
		t.Error("two apps share a topic")
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	noCert := event("client.create", `{}`, "")
	noCert.Delivery.CertificateURL = ""
	if _, err := native(t, noCert); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without a certificate URL: %v", err)
	}
	unknown := event("widget.create", `{}`, "")
	if _, err := native(t, unknown); err == nil || !strings.Contains(err.Error(), "no notification for widget.create") {
		t.Errorf("unknown type: %v", err)
	}
	noKey := event("client.create", `{}`, "")
	_, err := sdktest.Shape(&ivvy.Plugin, &sdktest.Host{}, noKey)
	if err == nil || !strings.Contains(err.Error(), "server key") {
		t.Errorf("without a server key: %v", err)
	}
	noConfirm := handshake(nil)
	noConfirm.Delivery.ConfirmURL = ""
	if _, err := native(t, noConfirm); err == nil {
		t.Error("a confirmation without a SubscribeURL was made")
	}
}

// TestGoldenRequests pins every byte of a notification and a confirmation, and has sns-validator
// and openssl verify the pinned signatures.
func TestGoldenRequests(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]*sdk.Input{
		"notification": apiEvent(event("client.create", `{"id":60825,"businessName":"Test Company 123"}`, "")),
		"confirmation": handshake(map[string]string{ivvy.OptionEndpoint: ivvy.EndpointCompanies}),
	} {
		req := do(t, wasm, in)
		var b strings.Builder
		b.WriteString(req.Method + "\n")
		for _, h := range req.Headers {
			b.WriteString(h.Name + ": " + h.Value + "\n")
		}
		b.WriteString("\n" + string(req.Body) + "\n")
		golden := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if b.String() != string(want) {
			t.Errorf("%s changed:\n%s\nwant:\n%s", name, b.String(), want)
		}
		verifyGolden(t, golden)
	}
}

// verifyGolden checks a golden file as it is on disk, so that -update cannot pin a wrong
// signature. AWS's sns-validator (examples/receivers/ivvy.js), given the test key's public half for
// the SigningCertURL, validates the SNS envelope, and refuses it once a signed field is changed;
// the x-amz-sns headers repeat the envelope. In a notification, the iVvy message has the fields of
// iVvy's table, and openssl verifies its own signature over the string built here from its fields
// ("Key\nValue\n" in key order, as the package documents).
func verifyGolden(t *testing.T, golden string) {
	t.Helper()
	text, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(text), "\n\n")
	if !ok {
		t.Fatalf("%s: no blank line before the body", golden)
	}
	var m envelope
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: the body is not an SNS JSON document: %v", golden, err)
	}
	headers := map[string]string{}
	for _, line := range strings.Split(head, "\n")[1:] {
		k, v, _ := strings.Cut(line, ": ")
		headers[strings.ToLower(k)] = v
	}
	if headers["content-type"] != "text/plain; charset=UTF-8" || headers["x-amz-sns-message-type"] != m["Type"] ||
		headers["x-amz-sns-message-id"] != m["MessageId"] || headers["x-amz-sns-topic-arn"] != m["TopicArn"] {
		t.Errorf("%s: headers %v do not repeat the envelope", golden, headers)
	}

	dir := t.TempDir()
	file, tampered := filepath.Join(dir, "message.json"), filepath.Join(dir, "tampered.json")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(body, m["MessageId"], strings.ToUpper(m["MessageId"]), 1)
	if err := os.WriteFile(tampered, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	validate := func(file string) error {
		_, err := receivers.Run(t, "ivvy.js", "verify", "--host-pattern", `^sy\.example$`,
			"--certificate", filepath.Join("testdata", "server-pub.pem"), file)
		return err
	}
	if err := validate(file); err != nil {
		t.Errorf("sns-validator refuses %s: %v", golden, err)
	}
	if changed == body || validate(tampered) == nil {
		t.Errorf("sns-validator accepts %s with its MessageId changed: the check proves nothing", golden)
	}

	if m["Type"] != "Notification" {
		return
	}
	var msg map[string]any
	dec := json.NewDecoder(strings.NewReader(m["Message"]))
	dec.UseNumber()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("%s: Message is not JSON: %v", golden, err)
	}
	// iVvy's table, with the types it gives, except Timestamp: the table says string, the package
	// sends epoch seconds as a number.
	for k, kind := range map[string]string{
		"AccountId": "string", "Subject": "string", "Body": "string", "Region": "string", "Signature": "string",
		"SigningPublicKeyPath": "string", "SourceInfo": "string or null", "SourceType": "int", "Timestamp": "int", "TxnId": "string",
	} {
		v, present := msg[k]
		_, isString := v.(string)
		n, isNumber := v.(json.Number)
		_, intErr := n.Int64()
		if !present || (kind == "string" && !isString) || (kind == "string or null" && !isString && v != nil) ||
			(kind == "int" && (!isNumber || intErr != nil)) {
			t.Errorf("%s: Message.%s is %#v, want %s", golden, k, v, kind)
		}
	}
	if len(msg) != 10 {
		t.Errorf("%s: Message has %d fields, iVvy's table 10", golden, len(msg))
	}
	// The golden notification is of a change made through the API: iVvy's Source Type table says 1
	// (API), and SourceInfo is "optionally the source of the message in JSON. E.g. API key".
	if st, _ := msg["SourceType"].(json.Number); st != "1" {
		t.Errorf("%s: SourceType %v, want 1 (API)", golden, msg["SourceType"])
	}
	var info map[string]any
	if si, _ := msg["SourceInfo"].(string); json.Unmarshal([]byte(si), &info) != nil || info["apiKey"] != "crm-sync" {
		t.Errorf("%s: SourceInfo %#v is not the API source in JSON", golden, msg["SourceInfo"])
	}
	var keys []string
	for k, v := range msg {
		if k != "Signature" && k != "SigningPublicKeyPath" && v != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var signed strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&signed, "%s\n%v\n", k, msg[k])
	}
	sig, _ := msg["Signature"].(string)
	if err := opensslVerify(t, "sha256", []byte(signed.String()), sig); err != nil {
		t.Errorf("%s: the iVvy message's signature does not verify: %v", golden, err)
	}
}

func TestManifestTable(t *testing.T) {
	t.Parallel()
	m := ivvy.Plugin.Manifest
	groups := map[string]bool{}
	for _, e := range m.Events {
		if e.Name == "" || e.Group == "" {
			t.Errorf("%s lacks a Subject or endpoint", e.Type)
		}
		groups[e.Group] = true
	}
	for _, g := range []string{"companiesEndpoint", "contactsEndpoint", "crmEndpoint", "paymentsEndpoint", "venuesEndpoint", "eventsEndpoint"} {
		if !groups[g] {
			t.Errorf("no event maps to %s", g)
		}
	}
	if m.EventName("client.create") != "CompanyAdded" || m.EventName("booking.delete") != "BookingDeleted" {
		t.Error("vocabulary")
	}
}
