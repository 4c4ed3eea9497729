package runtime

import (
	"encoding/json"
	"fmt"

	"github.com/switchyard/switchyard/sdk"
)

// oldestABIVersion is the first ABI version this host still speaks: plugins built with an SDK of
// version 1 get its JSON input head (sdk.Input.AppendFrameFor), so an upgrade of the server keeps
// every custom plugin working without a rebuild.
const oldestABIVersion = 1

// maxResponseBytesLimit bounds what a plugin may ask the host to read of one answer: every
// delivery in flight may hold that much.
const maxResponseBytesLimit = 4 << 20

// ValidateManifest checks what the host relies on in a manifest and names every problem it finds.
func ValidateManifest(m *sdk.Manifest) error {
	var problems []string
	if !sdk.IsPluginName(m.Name) {
		problems = append(problems, fmt.Sprintf("name %q must be %s", m.Name, sdk.PluginNameRule))
	}
	if m.Version == "" || len(m.Version) > 64 {
		problems = append(problems, "version must be 1-64 characters")
	}
	if m.ABI < oldestABIVersion || m.ABI > sdk.ABIVersion {
		problems = append(problems, fmt.Sprintf("abi is %d, want %d to %d", m.ABI, oldestABIVersion, sdk.ABIVersion))
	}
	if len(m.Events) == 0 {
		problems = append(problems, "events must list at least one event type")
	}
	seen := map[string]bool{}
	for i, e := range m.Events {
		switch {
		case !sdk.IsTypePattern(e.Type):
			problems = append(problems, fmt.Sprintf("events[%d].type %q is not a canonical type (object.action, with * wildcards)", i, e.Type))
		case seen[e.Type]:
			problems = append(problems, fmt.Sprintf("events[%d].type %q is listed twice", i, e.Type))
		}
		seen[e.Type] = true
	}
	for _, h := range m.Hooks {
		if _, ok := hookExports[h]; !ok {
			problems = append(problems, fmt.Sprintf("hooks lists unknown hook %q", h))
		}
	}
	for i, o := range m.Options {
		if o.Name == "" {
			problems = append(problems, fmt.Sprintf("options[%d] has no name", i))
		}
	}
	if len(m.SampleEvent) > 0 && !json.Valid(m.SampleEvent) {
		problems = append(problems, "sample_event is not valid JSON")
	}
	if m.DeliveryTimeoutMS < 0 {
		problems = append(problems, "delivery_timeout_ms must not be negative")
	}
	if m.MaxResponseBytes < 0 || m.MaxResponseBytes > maxResponseBytesLimit {
		problems = append(problems, fmt.Sprintf("max_response_bytes must be from 0 to %d", maxResponseBytesLimit))
	}
	if len(problems) > 0 {
		return invalid("manifest %s", joinProblems(problems))
	}
	return nil
}
