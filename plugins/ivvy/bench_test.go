package ivvy_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard/switchyard/plugins/ivvy"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

// BenchmarkShape measures one notification: two RSA-2048 signatures (the SNS envelope's and the
// iVvy message's) dominate it.
func BenchmarkShape(b *testing.B) {
	in := event("client.create", `{"id":60825,"businessName":"Test Company 123","address":{"city":"Sydney","countryCode":"AU"}}`, "")
	b.Run("native", func(b *testing.B) {
		h := &sdktest.Host{Keys: signing.Keyring{Server: testKey(b)}, Clock: func() time.Time { return now }}
		for b.Loop() {
			if _, err := sdktest.Shape(&ivvy.Plugin, h, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wasm", func(b *testing.B) {
		rt, err := runtime.New(context.Background(), runtime.Config{CacheDir: runtimetest.CacheDir(b), ServerKey: testKey(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(context.Background())
		p, err := rt.Load(context.Background(), runtimetest.Builtin(b, "ivvy"), runtime.Trusted, runtime.GrantServerKey)
		if err != nil {
			b.Fatal(err)
		}
		keys := &signing.Keyring{}
		for b.Loop() {
			if _, err := p.Shape(context.Background(), in, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}
