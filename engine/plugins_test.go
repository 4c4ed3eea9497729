package engine

import (
	"context"
	"testing"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// fakePlugin is a Plugin with a name and a version and nothing else.
type fakePlugin struct{ name, version string }

func (f *fakePlugin) Manifest() sdk.Manifest { return sdk.Manifest{Name: f.name, Version: f.version} }
func (f *fakePlugin) Version() string        { return f.name + "@" + f.version }
func (f *fakePlugin) Has(string) bool        { return false }
func (f *fakePlugin) Shape(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Request, error) {
	return &sdk.Request{}, nil
}
func (f *fakePlugin) OnSubscribe(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Request, error) {
	return nil, nil
}
func (f *fakePlugin) OnResponse(context.Context, *sdk.Input, *signing.Keyring) (*sdk.Verdict, error) {
	return nil, nil
}

func TestRetireWaitsForEveryHolder(t *testing.T) {
	t.Parallel()
	ps := NewPlugins()
	v1 := &fakePlugin{"custom", "1"}
	ps.Put(v1)
	held1, release1, ok := ps.Acquire("custom")
	_, release2, _ := ps.Acquire("custom")
	if !ok || held1 != v1 {
		t.Fatalf("Acquire = %v, %v", held1, ok)
	}

	v2 := &fakePlugin{"custom", "2"}
	if replaced := ps.Put(v2); replaced != v1 {
		t.Fatalf("Put replaced %v, want v1", replaced)
	}
	closed := 0
	ps.Retire(v1, func() { closed++ })
	if p, release, _ := ps.Acquire("custom"); p != v2 {
		t.Fatalf("after the swap Acquire gave %v, want v2", p)
	} else {
		release()
	}
	release1()
	release1() // twice is harmless
	if closed != 0 {
		t.Fatal("v1 was retired while a delivery still held it")
	}
	release2()
	if closed != 1 {
		t.Fatalf("v1 retired %d times after its last holder let go, want 1", closed)
	}

	// A plugin nobody holds retires at once.
	ps.Retire(ps.Remove("custom"), func() { closed++ })
	if closed != 2 {
		t.Fatal("an unheld plugin was not retired at once")
	}
	if _, _, ok := ps.Acquire("custom"); ok {
		t.Fatal("a removed plugin can still be acquired")
	}
}
