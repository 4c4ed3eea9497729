package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/switchyard/switchyard/engine"
)

// TestPublishedIsWrittenAsEncodingJSONWritesIt: the publish answers' hand-written JSON is byte for
// byte what encoding/json (c.JSON before) wrote, for engine IDs and for IDs that need escaping.
func TestPublishedIsWrittenAsEncodingJSONWritesIt(t *testing.T) {
	for _, p := range []engine.Published{
		{ID: engine.NewID("evt"), Deliveries: 3},
		{ID: engine.NewID("evt"), Duplicate: true},
		{ID: "quote\" back\\slash \t tab \u00e9 \x01", Deliveries: -1},
		{},
	} {
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendPublished(nil, p); !bytes.Equal(got, want) {
			t.Errorf("%+v: wrote %s, encoding/json writes %s", p, got, want)
		}
	}
}
