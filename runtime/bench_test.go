package runtime

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/plugins/standard"
	"github.com/switchyard/switchyard/runtime/runtimetest"
	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/sdktest"
	"github.com/switchyard/switchyard/sdk/signing"
)

// oneKBEvent returns a shape input whose data is about 1 KB of typical entity JSON.
func oneKBEvent() *sdk.Input {
	in := sampleInput()
	var b strings.Builder
	b.WriteString(`{"id":370,"email":"julien@example.com","companyName":"Auchan hypermarché","number":"C001000","lines":[`)
	for i := 0; b.Len() < 1000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","qty":%d,"price":"%d.50"}`, i, i+1, 10*i)
	}
	b.WriteString(`]}`)
	in.Event.Data = []byte(b.String())
	in.Subscription.Format = "standard"
	return in
}

var benchKeys = &signing.Keyring{Subscription: "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}

// BenchmarkStandardShape compares the standard plugin's shape through wasm, in both modes, with its
// native twin: the same Go code run through the same ABI encoding without WebAssembly.
func BenchmarkStandardShape(b *testing.B) {
	in := oneKBEvent()
	b.Run("native", func(b *testing.B) {
		host := &sdktest.Host{Keys: *benchKeys}
		b.SetBytes(int64(len(in.Event.Data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdktest.Shape(&standard.Plugin, host, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []Mode{Trusted, Sandboxed} {
		b.Run("wasm-"+mode.String(), func(b *testing.B) {
			bb := setup(b, Config{PoolSize: 1})
			p := bb.load(b, runtimetest.Builtin(b, "standard"), mode)
			ctx := context.Background()
			b.SetBytes(int64(len(in.Event.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Shape(ctx, in, benchKeys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompile measures loading the standard plugin with a cold compilation cache and from a
// warm one: the cost of the first and of every later start of the server.
func BenchmarkCompile(b *testing.B) {
	wasm := runtimetest.Builtin(b, "standard")
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "cached"}[warm]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			if warm {
				bb := setup(b, Config{CacheDir: dir})
				bb.load(b, wasm, Trusted)
				_ = bb.rt.Close(context.Background())
			}
			for b.Loop() {
				b.StopTimer()
				if !warm {
					dir = b.TempDir()
				}
				rt, err := New(context.Background(), Config{CacheDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if _, err := rt.Load(context.Background(), wasm, Trusted); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/load")
				b.StopTimer()
				_ = rt.Close(context.Background())
				b.StartTimer()
			}
		})
	}
}

// BenchmarkABIOverhead separates the cost of crossing the boundary (a plugin that answers without
// decoding its input) from the SDK's decoding and encoding (a plugin that decodes its input and
// returns the data as the body), on the same 1 KB input.
func BenchmarkABIOverhead(b *testing.B) {
	in := oneKBEvent()
	for _, name := range []string{"rawonly", "noop"} {
		b.Run(name, func(b *testing.B) {
			bb := setup(b, Config{PoolSize: 1})
			p := bb.load(b, runtimetest.Build(b, "testdata/bench/"+name), Trusted)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Shape(context.Background(), in, benchKeys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkColdShape is BenchmarkStandardShape's trusted case with other memory touched between
// calls, as the server's other work does between two deliveries: in the load generator's runs the
// guest costs about twice what it costs here warm, and this shows how much of that a cold cache
// explains. Every case stops the timer between calls, the warm one too, so they compare with each
// other and not with BenchmarkStandardShape.
func BenchmarkColdShape(b *testing.B) {
	in := oneKBEvent()
	other := make([]byte, 8<<20)
	for _, touched := range []int{0, 1 << 20, 4 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("%dMiB-between", touched>>20), func(b *testing.B) {
			bb := setup(b, Config{PoolSize: 1})
			p := bb.load(b, runtimetest.Builtin(b, "standard"), Trusted)
			ctx := context.Background()
			for b.Loop() {
				if _, err := p.Shape(ctx, in, benchKeys); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for i := 0; i < touched; i += 64 { // a byte per cache line
					other[i]++
				}
				b.StartTimer()
			}
		})
	}
}
