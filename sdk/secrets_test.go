package sdk

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

// randomHost is the least Host a call needs: real randomness, nothing to sign with.
type randomHost struct{}

func (randomHost) Sign(string, string, []byte) ([]byte, error) { return nil, ErrNoKey }
func (randomHost) Now() time.Time                              { return time.Now() }
func (randomHost) Random(p []byte)                             { _, _ = rand.Read(p) }
func (randomHost) Log(LogLevel, string)                        {}

// TestSecretPlaceholdersTravelWithTheRequest: the placeholders Input.Secret hands out during a call
// come back in the request's head, each unguessable and distinct, and a later call starts afresh.
func TestSecretPlaceholdersTravelWithTheRequest(t *testing.T) {
	t.Parallel()
	p := &Plugin{Shape: func(in *Input) (*Request, error) {
		key := in.Secret(KeyApp, SecretJSON)
		sub := in.Secret(KeySubscription, SecretRaw)
		return &Request{Headers: []Header{{"x-key", sub}}, Body: []byte(`{"k":"` + key + `"}`)}, nil
	}}
	frame := fullInput().AppendFrame(nil, nil)
	out, isErr := p.Call(ExportShape, frame, randomHost{}, nil)
	if isErr {
		t.Fatalf("shape failed: %s", out)
	}
	req, err := DecodeRequest(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Secrets) != 2 {
		t.Fatalf("secrets %+v, want two", req.Secrets)
	}
	app, sub := req.Secrets[0], req.Secrets[1]
	if app.Key != KeyApp || app.Encoding != SecretJSON || sub.Key != KeySubscription || sub.Encoding != SecretRaw {
		t.Errorf("secrets %+v", req.Secrets)
	}
	for _, s := range req.Secrets {
		if len(s.Placeholder) < MinPlaceholderLen || !strings.HasPrefix(s.Placeholder, secretPlaceholderPrefix) {
			t.Errorf("placeholder %q", s.Placeholder)
		}
	}
	if app.Placeholder == sub.Placeholder || !strings.Contains(string(req.Body), app.Placeholder) || req.Headers[0].Value != sub.Placeholder {
		t.Errorf("placeholders not where the plugin put them: %+v", req)
	}

	again, _ := p.Call(ExportShape, frame, randomHost{}, nil)
	req2, err := DecodeRequest(again)
	if err != nil || len(req2.Secrets) != 2 || req2.Secrets[0].Placeholder == app.Placeholder {
		t.Errorf("second call: %+v %v; want two fresh placeholders", req2, err)
	}
}
