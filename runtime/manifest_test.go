package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/sdk"
)

func TestValidateManifestLimits(t *testing.T) {
	t.Parallel()
	base := sdk.Manifest{Name: "x", Version: "1", ABI: sdk.ABIVersion, Events: []sdk.EventType{{Type: "*"}}}
	for _, tc := range []struct {
		name   string
		change func(*sdk.Manifest)
		says   string
	}{
		{"fine", func(m *sdk.Manifest) { m.MaxResponseBytes = 256 << 10; m.DeliveryTimeoutMS = 30000 }, ""},
		{"negative timeout", func(m *sdk.Manifest) { m.DeliveryTimeoutMS = -1 }, "delivery_timeout_ms"},
		{"negative response limit", func(m *sdk.Manifest) { m.MaxResponseBytes = -1 }, "max_response_bytes"},
		{"huge response limit", func(m *sdk.Manifest) { m.MaxResponseBytes = 1 << 30 }, "max_response_bytes"},
		{"the first ABI", func(m *sdk.Manifest) { m.ABI = 1 }, ""},
		{"no ABI", func(m *sdk.Manifest) { m.ABI = 0 }, "abi is 0, want 1 to 2"},
		{"a later ABI", func(m *sdk.Manifest) { m.ABI = sdk.ABIVersion + 1 }, "abi is 3, want 1 to 2"},
	} {
		m := base
		tc.change(&m)
		err := ValidateManifest(&m)
		if tc.says == "" && err != nil || tc.says != "" && (!errors.Is(err, ErrInvalidPlugin) || !strings.Contains(err.Error(), tc.says)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
