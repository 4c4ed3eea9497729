package store_test

import (
	"testing"

	"github.com/switchyard/switchyard/plugins/upsales/store"
)

func TestMergePatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ saved, patch, want string }{
		{``, `{"externalId":"abc123"}`, `{"externalId":"abc123"}`},
		{`{"a":1,"b":{"c":2,"d":3}}`, `{"b":{"c":null,"e":4},"f":12345678901234567890}`, `{"a":1,"b":{"d":3,"e":4},"f":12345678901234567890}`},
		{`{"list":[1,2]}`, `{"list":[3]}`, `{"list":[3]}`},
		{`{"a":1}`, `{}`, `{"a":1}`},
	} {
		got, err := store.MergePatch([]byte(c.saved), []byte(c.patch))
		if err != nil || string(got) != c.want {
			t.Errorf("MergePatch(%s, %s) = %s, %v; want %s", c.saved, c.patch, got, err, c.want)
		}
	}
}
