package altoviz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/plugins/altoviz"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The 15 types of the vendor's table, by the canonical type that fires each.
var table = map[string]string{
	"contact.create": "ContactCreated", "contact.update": "ContactUpdated", "contact.delete": "ContactDeleted",
	"client.create": "CustomerCreated", "client.update": "CustomerUpdated", "client.delete": "CustomerDeleted",
	"invoice.create": "InvoiceCreated", "invoice.update": "InvoiceUpdated", "invoice.delete": "InvoiceDeleted",
	"quote.create": "QuoteCreated", "quote.update": "QuoteUpdated", "quote.delete": "QuoteDeleted",
	"product.create": "ProductCreated", "product.update": "ProductUpdated", "product.delete": "ProductDeleted",
	// The Altoviz spelling of customers reaches the same types.
	"customer.create": "CustomerCreated", "customer.update": "CustomerUpdated", "customer.delete": "CustomerDeleted",
}

// shaper runs the plugin one way: natively, or through the real compiled module.
type shaper func(t *testing.T, in *sdk.Input, keys signing.Keyring) (*sdk.Request, error)

func native(t *testing.T, in *sdk.Input, keys signing.Keyring) (*sdk.Request, error) {
	t.Helper()
	return sdktest.Shape(&altoviz.Plugin, &sdktest.Host{Keys: keys}, in)
}

func load(t *testing.T) *runtime.Plugin {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := rt.Load(context.Background(), runtimetest.Builtin(t, "altoviz"), runtime.Trusted)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wasm(t *testing.T, in *sdk.Input, keys signing.Keyring) (*sdk.Request, error) {
	t.Helper()
	return load(t).Shape(context.Background(), in, &keys)
}

var both = map[string]shaper{"native": native, "wasm": wasm}

func input(eventType, deliveryID, data string, hasSecret bool) *sdk.Input {
	object, _, _ := strings.Cut(eventType, ".")
	return &sdk.Input{
		Event: sdk.Event{
			ID: "evt_1", Type: eventType, AccountID: "acc_1",
			Entity:     sdk.Entity{Type: object, ID: "370"},
			OccurredAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
			Data:       []byte(data),
		},
		Subscription: sdk.Subscription{ID: "sub_1", Format: "altoviz", HasSecret: hasSecret},
		Delivery:     sdk.Delivery{ID: deliveryID, Attempt: 1, Kind: sdk.KindEvent},
		// What the host hands over: the Altoviz webhook's integer id.
		State: json.RawMessage(`{"webhook_id":1233}`),
	}
}

func header(req *sdk.Request, name string) (string, int) {
	value, n := "", 0
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, name) {
			value, n = h.Value, n+1
		}
	}
	return value, n
}

// opensslHMAC computes the hex HMAC-SHA256 of body with openssl, an implementation that owes
// nothing to this project.
func opensslHMAC(t *testing.T, key string, body []byte) string {
	t.Helper()
	cmd := exec.Command("openssl", "dgst", "-sha256", "-hmac", key, "-r")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	hexSig, _, _ := strings.Cut(string(out), " ")
	return strings.TrimSpace(hexSig)
}

func TestManifestMapsTheVendorsTable(t *testing.T) {
	t.Parallel()
	m := altoviz.Plugin.Manifest
	if len(m.Events) != len(table) {
		t.Errorf("manifest lists %d event types, want %d", len(m.Events), len(table))
	}
	names := map[string]bool{}
	for canonical, want := range table {
		if got := m.EventName(canonical); got != want {
			t.Errorf("%s is %q, want %q", canonical, got, want)
		}
		names[want] = true
	}
	if len(names) != 15 {
		t.Errorf("%d distinct vendor types, want the document's 15", len(names))
	}
	for _, other := range []string{"client.merge", "order.create", "comment.create"} {
		if got := m.EventName(other); got != "" {
			t.Errorf("%s maps to %q; the document has no such type", other, got)
		}
	}
	// The compiled module must carry the same table: the compatible API reads it from there.
	loaded := load(t).Manifest()
	if !reflect.DeepEqual(loaded.Events, m.Events) || loaded.Name != "altoviz" {
		t.Errorf("the compiled module's manifest differs: %+v", loaded)
	}
	// Receivers key their HMAC with the secret key as typed: the host must know, or it would
	// generate whsec_ keys that sign with other bytes than the ones the receiver is shown.
	if !m.VerbatimSecrets || !loaded.VerbatimSecrets {
		t.Error("the manifest does not ask for verbatim secrets")
	}
}

// TestShapesEveryTypeSigned shapes one event of every type, natively and in wasm, and checks the
// body field by field and the signature with openssl.
func TestShapesEveryTypeSigned(t *testing.T) {
	t.Parallel()
	const secret = "my webhook secret key"
	data := `{"id":370,"companyName":"Auchan hypermarché","billingAddress":{"formattedAddress":"1 Rue Abel Rabaud\n75011 Paris"},"title":null}`
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			for canonical, vendor := range table {
				req, err := shape(t, input(canonical, "dlv_"+vendor, data, true), signing.Keyring{Subscription: secret})
				if err != nil {
					t.Fatalf("%s: %v", canonical, err)
				}
				var body struct {
					ID   string          `json:"id"`
					Type string          `json:"type"`
					Data json.RawMessage `json:"data"`
				}
				dec := json.NewDecoder(bytes.NewReader(req.Body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&body); err != nil {
					t.Fatalf("%s: body %s: %v", canonical, req.Body, err)
				}
				// The document's example: "id": "1233", the webhook's id as a string.
				if body.ID != "1233" || body.Type != vendor || string(body.Data) != data {
					t.Errorf("%s: body %s", canonical, req.Body)
				}
				if id, n := header(req, "x-delivery-id"); n != 1 || id != "dlv_"+vendor {
					t.Errorf("%s: X-DELIVERY-ID %q (%d headers), want the delivery's id", canonical, id, n)
				}
				sig, n := header(req, "x-signature")
				if n != 1 || sig != opensslHMAC(t, secret, req.Body) {
					t.Errorf("%s: X-SIGNATURE %q (%d headers), openssl says %s", canonical, sig, n, opensslHMAC(t, secret, req.Body))
				}
				if ct, _ := header(req, "content-type"); ct != "application/json" || req.Method != "POST" || req.URL != "" || req.Path != "" {
					t.Errorf("%s: %s %q %q content-type %q", canonical, req.Method, req.URL, req.Path, ct)
				}
			}
		})
	}
}

func TestNoSecretKeyNoSignature(t *testing.T) {
	t.Parallel()
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			req, err := shape(t, input("invoice.delete", "dlv_1", `{"id":9}`, false), signing.Keyring{})
			if err != nil {
				t.Fatal(err)
			}
			if _, n := header(req, altoviz.SignatureHeader); n != 0 {
				t.Errorf("unsigned webhook got a signature: %+v", req.Headers)
			}
			if string(req.Body) != `{"id":"1233","type":"InvoiceDeleted","data":{"id":9}}` {
				t.Errorf("body %s", req.Body)
			}
		})
	}
}

// TestRotationSignsWithBothKeys: while a rotated-out key overlaps, X-SIGNATURE is still one value
// made with the current key, and X-SIGNATURE-PREVIOUS the one made with the previous key; openssl
// checks both. Without a previous key, or without any key, the second header is absent.
func TestRotationSignsWithBothKeys(t *testing.T) {
	t.Parallel()
	const current, previous = "the new secret key", "the old secret key"
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			req, err := shape(t, input("invoice.update", "dlv_rot", `{"id":9,"total":"12.50"}`, true), signing.Keyring{Subscription: current, SubscriptionPrevious: previous})
			if err != nil {
				t.Fatal(err)
			}
			sig, n := header(req, altoviz.SignatureHeader)
			if n != 1 || sig != opensslHMAC(t, current, req.Body) {
				t.Errorf("X-SIGNATURE %q (%d headers), want one, openssl's %s with the current key", sig, n, opensslHMAC(t, current, req.Body))
			}
			prev, n := header(req, altoviz.PreviousSignatureHeader)
			if n != 1 || prev != opensslHMAC(t, previous, req.Body) {
				t.Errorf("X-SIGNATURE-PREVIOUS %q (%d headers), want one, openssl's %s with the previous key", prev, n, opensslHMAC(t, previous, req.Body))
			}
			if sig == prev {
				t.Error("both headers carry the same signature")
			}

			req, err = shape(t, input("invoice.update", "dlv_rot", `{"id":9}`, true), signing.Keyring{Subscription: current})
			if err != nil {
				t.Fatal(err)
			}
			if _, n := header(req, altoviz.PreviousSignatureHeader); n != 0 {
				t.Errorf("outside an overlap the call has a previous signature: %+v", req.Headers)
			}
			if sig, n := header(req, altoviz.SignatureHeader); n != 1 || sig != opensslHMAC(t, current, req.Body) {
				t.Errorf("outside an overlap X-SIGNATURE is %q (%d headers)", sig, n)
			}

			// A webhook without a key sends no signature at all, whatever the host holds.
			req, err = shape(t, input("invoice.update", "dlv_rot", `{"id":9}`, false), signing.Keyring{SubscriptionPrevious: previous})
			if err != nil {
				t.Fatal(err)
			}
			_, n = header(req, altoviz.SignatureHeader)
			_, np := header(req, altoviz.PreviousSignatureHeader)
			if n+np != 0 || len(req.Headers) != 2 {
				t.Errorf("a webhook without a key got %+v", req.Headers)
			}
		})
	}
}

// TestWebhookIDIsTheCallID: the body's id names the webhook, as the vendor's document says ("webhook
// id", "id": "1233"): the same for every delivery to one webhook. The delivery's id travels in
// X-DELIVERY-ID: the same on a retry, another for another delivery.
func TestWebhookIDIsTheCallID(t *testing.T) {
	t.Parallel()
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			in := input("quote.update", "dlv_a", `{}`, false)
			first, err := shape(t, in, signing.Keyring{})
			if err != nil {
				t.Fatal(err)
			}
			in.Delivery.Attempt = 4
			retry, _ := shape(t, in, signing.Keyring{})
			in.Delivery.ID = "dlv_b"
			other, _ := shape(t, in, signing.Keyring{})
			want := `{"id":"1233","type":"QuoteUpdated","data":{}}`
			for _, r := range []*sdk.Request{first, retry, other} {
				if string(r.Body) != want {
					t.Errorf("body %s, want %s", r.Body, want)
				}
			}
			a, _ := header(first, "X-DELIVERY-ID")
			b, _ := header(retry, "X-DELIVERY-ID")
			c, _ := header(other, "X-DELIVERY-ID")
			if a != "dlv_a" || b != "dlv_a" || c != "dlv_b" {
				t.Errorf("X-DELIVERY-ID %q, retry %q, other delivery %q", a, b, c)
			}
			// Outside a node (a dry run) there is no webhook: the subscription's id stands in.
			in.State = nil
			dry, err := shape(t, in, signing.Keyring{})
			if err != nil || !strings.HasPrefix(string(dry.Body), `{"id":"sub_1",`) {
				t.Errorf("without state: %s, %v", dry.Body, err)
			}
		})
	}
}

func TestRefusesAnEventOutsideTheTable(t *testing.T) {
	t.Parallel()
	for name, shape := range both {
		t.Run(name, func(t *testing.T) {
			_, err := shape(t, input("order.create", "dlv_1", `{}`, false), signing.Keyring{})
			if err == nil || !strings.Contains(err.Error(), `no webhook type for event type "order.create"`) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// TestGoldenRequest pins every byte of one signed call, as the compiled module shapes it, and has
// openssl confirm the pinned signature.
func TestGoldenRequest(t *testing.T) {
	t.Parallel()
	const secret = "cddb5157-12be-42a9-985a-4501c6e6e2fa"
	data := `{"id":370,"title":null,"email":"julien_fournier@intuit.com","companyName":"Auchan hypermarché","billingAddress":{"zipcode":"75011","formattedAddress":"1 Rue Abel Rabaud\n75011 Paris\nFrance"},"billingOptions":{"discount":{"type":"Percent","value":0.0}},"type":"Company","number":"C001000"}`
	req, err := wasm(t, input("client.create", "dlv_2yKQ8golden", data, true), signing.Keyring{Subscription: secret})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(req.Method + "\n")
	for _, h := range req.Headers {
		b.WriteString(h.Name + ": " + h.Value + "\n")
	}
	b.WriteString("\n" + string(req.Body) + "\n")
	golden := filepath.Join("testdata", "request.golden")
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
		t.Errorf("shaped request changed:\n%s\nwant:\n%s", b.String(), want)
	}
	// The golden file's own signature must be the HMAC of its own body under the secret.
	head, body, ok := strings.Cut(string(want), "\n\n")
	if !ok {
		t.Fatal("golden file has no blank line before the body")
	}
	body = strings.TrimSuffix(body, "\n")
	if !strings.Contains(head+"\n", "\nX-SIGNATURE: "+opensslHMAC(t, secret, []byte(body))+"\n") {
		t.Errorf("the golden signature is not openssl's HMAC of the golden body:\n%s", head)
	}
}

// BenchmarkShape measures one 1 KB delivery natively (the same code through the same ABI encoding)
// and through the compiled module, trusted as the server runs built-in plugins.
func BenchmarkShape(b *testing.B) {
	var data strings.Builder
	data.WriteString(`{"id":370,"email":"julien@example.com","companyName":"Auchan hypermarché","number":"C001000","lines":[`)
	for i := 0; data.Len() < 1000; i++ {
		if i > 0 {
			data.WriteByte(',')
		}
		data.WriteString(`{"sku":"SKU-0001","qty":3,"price":"10.50"}`)
	}
	data.WriteString(`]}`)
	in := input("invoice.update", "dlv_01m847zg3tqktpzfr5wxnnbxgf", data.String(), true)
	keys := signing.Keyring{Subscription: "cddb5157-12be-42a9-985a-4501c6e6e2fa"}
	b.Run("native", func(b *testing.B) {
		host := &sdktest.Host{Keys: keys}
		b.SetBytes(int64(data.Len()))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdktest.Shape(&altoviz.Plugin, host, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wasm-trusted", func(b *testing.B) {
		rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(b), PoolSize: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(context.Background())
		p, err := rt.Load(context.Background(), runtimetest.Builtin(b, "altoviz"), runtime.Trusted)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(data.Len()))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Shape(context.Background(), in, &keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}
