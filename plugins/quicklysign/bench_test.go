package quicklysign_test

import (
	"testing"

	"github.com/switchyard/switchyard/plugins/quicklysign"
	"github.com/switchyard/switchyard/sdk/sdktest"
)

// BenchmarkShape shapes one callback natively (through the ABI's encoding) and through the
// compiled module, trusted, as the server runs it.
func BenchmarkShape(b *testing.B) {
	in := input("document.status_change", "v1")
	b.Run("native", func(b *testing.B) {
		h := native{}.host()
		for b.Loop() {
			if _, err := sdktest.Shape(&quicklysign.Plugin, h, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wasm", func(b *testing.B) {
		p := compiled{}.plugin(b)
		// The first call makes the pool's instance; that is not what is measured.
		if _, err := p.Shape(b.Context(), in, nil); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := p.Shape(b.Context(), in, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
