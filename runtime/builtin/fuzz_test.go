package builtin_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/plugins/altoviz"
	"github.com/switchyard/switchyard/plugins/ivvy"
	"github.com/switchyard/switchyard/plugins/quicklysign"
	"github.com/switchyard/switchyard/plugins/salesking"
	"github.com/switchyard/switchyard/plugins/standard"
	"github.com/switchyard/switchyard/plugins/upsales"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var builtins = []*sdk.Plugin{&standard.Plugin, &altoviz.Plugin, &salesking.Plugin, &quicklysign.Plugin, &ivvy.Plugin, &upsales.Plugin}

const (
	subSecret = "fuzz subscription secret"
	appSecret = "fuzz app secret"
)

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// FuzzShapeEveryPlugin shapes arbitrary event data and ids with every built-in plugin, natively
// through the ABI's encoding, and checks what each signs with an independent computation: the
// signing encoders must hold for any input, not only the examples in their tests.
func FuzzShapeEveryPlugin(f *testing.F) {
	keyOnce.Do(func() { rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	for i := range builtins {
		f.Add(uint8(i), []byte(`{"id":42,"name":"Acme \"quoted\" ✓","nested":{"a":[1,2,null]}}`), "dlv_01", "7")
		f.Add(uint8(i), []byte(`"a string"`), "dlv_\u2028", "")
		f.Add(uint8(i), []byte(`[]`), "", "user\x00")
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte, deliveryID, userID string) {
		if !json.Valid(data) {
			return // the publishing API only ever passes valid JSON
		}
		p := builtins[int(which)%len(builtins)]
		m := p.CompleteManifest()
		eventType := m.Events[0].Type
		if strings.Contains(eventType, "*") {
			eventType = "client.create"
		}
		in := &sdk.Input{
			Event: sdk.Event{ID: "evt_1", Type: eventType, AccountID: "acc_1", Entity: sdk.Entity{Type: "client", ID: "42"},
				OccurredAt: time.UnixMilli(1795000000000).UTC(), Data: data},
			Subscription: sdk.Subscription{ID: "sub_1", AccountID: "acc_1", AppID: "app_1", URL: "https://receiver.example/hook", Format: m.Name, HasSecret: true},
			Account:      sdk.Account{ID: "acc_1", Name: "Acme"},
			App:          sdk.App{ID: "app_1", Name: "App", URL: "https://receiver.example/"},
			Delivery: sdk.Delivery{ID: deliveryID, Attempt: 1, Kind: sdk.KindEvent, CertificateURL: "https://sy.example/c.pem",
				UnsubscribeURL: "https://sy.example/u", CallbackURL: "https://sy.example/cb"},
		}
		if userID != "" {
			in.Event.User = &sdk.User{ID: userID, Name: "Ann"}
		}
		host := &sdktest.Host{Keys: signing.Keyring{Subscription: subSecret, App: appSecret, Server: rsaKey}}
		req, err := sdktest.Shape(p, host, in)
		if err != nil {
			t.Fatalf("%s refused valid input: %v", m.Name, err)
		}
		switch m.Name {
		case "salesking":
			checkSignedRequest(t, req)
			return
		case "standard":
			ts := header(req, "webhook-timestamp")
			// What a receiver verifies: the id as it arrives (the ABI carries text, so invalid UTF-8 in
			// an id reaches the plugin, and the receiver, as U+FFFD).
			want := "v1," + base64.StdEncoding.EncodeToString(mac(subSecret, header(req, "webhook-id")+"."+ts+"."+string(req.Body)))
			if header(req, "webhook-signature") != want {
				t.Fatalf("standard: signature %q, want %q", header(req, "webhook-signature"), want)
			}
		case "altoviz":
			if got, want := header(req, "X-SIGNATURE"), hex.EncodeToString(mac(subSecret, string(req.Body))); got != want {
				t.Fatalf("altoviz: X-SIGNATURE %q, want %q", got, want)
			}
		case "ivvy":
			checkSNSNotification(t, req.Body)
		}
		if !json.Valid(req.Body) {
			t.Fatalf("%s: the body is not JSON: %q", m.Name, req.Body)
		}
	})
}

// checkSignedRequest decodes a SalesKing signed_request the way the vendor's SDK does: split at the
// dot, base64url-decode the payload, compare the hex HMAC of the payload text, require the algorithm.
func checkSignedRequest(t *testing.T, req *sdk.Request) {
	t.Helper()
	form, err := url.ParseQuery(string(req.Body))
	if err != nil || len(form) != 1 {
		t.Fatalf("salesking: body %q is not one form field: %v", req.Body, err)
	}
	sig, payload, ok := strings.Cut(form.Get("signed_request"), ".")
	if !ok || strings.ContainsAny(payload, "=+/\n") {
		t.Fatalf("salesking: %q is not signature.base64url", form.Get("signed_request"))
	}
	if sig != hex.EncodeToString(mac(appSecret, payload)) {
		t.Fatal("salesking: the signature does not match the payload")
	}
	doc, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(doc, &obj); err != nil || obj["algorithm"] != "HMAC-SHA256" {
		t.Fatalf("salesking: payload %s: %v", doc, err)
	}
}

// checkSNSNotification verifies an iVvy delivery as an SNS subscriber does (AWS's "Verifying the
// signatures of Amazon SNS messages"): the envelope's signature over "Key\nValue\n" of Message,
// MessageId, Subject (when present), Timestamp, TopicArn and Type, with SHA-1 for
// SignatureVersion 1 and SHA-256 for 2; then the inner iVvy message's own signature, over the keys
// plugins/ivvy documents, in byte order. Both with the public key only.
func checkSNSNotification(t *testing.T, body []byte) {
	t.Helper()
	var env map[string]string
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("ivvy: the body is not an SNS message: %v\n%s", err, body)
	}
	var signed strings.Builder
	for _, k := range []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"} {
		if v, ok := env[k]; ok {
			signed.WriteString(k + "\n" + v + "\n")
		}
	}
	hash, sum := crypto.SHA256, sha256.Sum256([]byte(signed.String()))
	digest := sum[:]
	if env["SignatureVersion"] == "1" {
		s1 := sha1.Sum([]byte(signed.String()))
		hash, digest = crypto.SHA1, s1[:]
	}
	sig, err := base64.StdEncoding.DecodeString(env["Signature"])
	if err != nil || rsa.VerifyPKCS1v15(&rsaKey.PublicKey, hash, digest, sig) != nil {
		t.Fatalf("ivvy: the SNS signature does not verify (%v)", err)
	}

	var msg map[string]any
	if err := json.Unmarshal([]byte(env["Message"]), &msg); err != nil {
		t.Fatalf("ivvy: Message is not JSON: %v", err)
	}
	inner := map[string]string{}
	for k, v := range msg {
		switch v := v.(type) {
		case string:
			inner[k] = v
		case float64:
			inner[k] = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	var msgSigned strings.Builder
	for _, k := range []string{"AccountId", "Body", "Region", "SourceInfo", "SourceType", "Subject", "Timestamp", "TxnId"} {
		if v, ok := inner[k]; ok {
			msgSigned.WriteString(k + "\n" + v + "\n")
		}
	}
	innerSum := sha256.Sum256([]byte(msgSigned.String()))
	innerSig, err := base64.StdEncoding.DecodeString(inner["Signature"])
	if err != nil || rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, innerSum[:], innerSig) != nil {
		t.Fatalf("ivvy: the iVvy message's signature does not verify (%v)", err)
	}
}

func mac(key, msg string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func header(req *sdk.Request, name string) string {
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}
