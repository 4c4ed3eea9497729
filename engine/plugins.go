package engine

import (
	"context"
	"sort"
	"sync"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// Plugin is a loaded plugin as the engine uses it; *runtime.Plugin implements it.
type Plugin interface {
	Manifest() sdk.Manifest
	// Version identifies the exact module, and is recorded on every attempt it shapes.
	Version() string
	Has(hook string) bool
	Shape(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (*sdk.Request, error)
	OnSubscribe(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (*sdk.Request, error)
	OnResponse(ctx context.Context, in *sdk.Input, keys *signing.Keyring) (*sdk.Verdict, error)
}

// Plugins is the set of loaded formats, by name. Replacing a plugin is atomic: a delivery that
// already holds the old one finishes with it, and later ones get the new one.
type Plugins struct {
	mu     sync.RWMutex
	byName map[string]Plugin
}

// NewPlugins returns an empty set.
func NewPlugins() *Plugins { return &Plugins{byName: map[string]Plugin{}} }

// Get returns the plugin named name.
func (ps *Plugins) Get(name string) (Plugin, bool) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	p, ok := ps.byName[name]
	return p, ok
}

// Put adds p under its manifest's name, replacing and returning any plugin of that name.
func (ps *Plugins) Put(p Plugin) (replaced Plugin) {
	name := p.Manifest().Name
	ps.mu.Lock()
	defer ps.mu.Unlock()
	replaced = ps.byName[name]
	ps.byName[name] = p
	return replaced
}

// Remove removes and returns the plugin named name.
func (ps *Plugins) Remove(name string) Plugin {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byName[name]
	delete(ps.byName, name)
	return p
}

// List returns the plugins sorted by name.
func (ps *Plugins) List() []Plugin {
	ps.mu.RLock()
	list := make([]Plugin, 0, len(ps.byName))
	for _, p := range ps.byName {
		list = append(list, p)
	}
	ps.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Manifest().Name < list[j].Manifest().Name })
	return list
}

// accepts reports whether a plugin's manifest covers an event type.
func accepts(m *sdk.Manifest, eventType string) bool {
	for _, e := range m.Events {
		if sdk.MatchType(e.Type, eventType) {
			return true
		}
	}
	return false
}

// covers reports whether every event a subscription pattern can match is one the manifest accepts:
// the pattern must lie within one of the manifest's patterns.
func covers(m *sdk.Manifest, pattern string) bool {
	for _, e := range m.Events {
		if patternWithin(pattern, e.Type) {
			return true
		}
	}
	return false
}

// patternWithin reports whether every type inner matches is matched by outer.
func patternWithin(inner, outer string) bool {
	if outer == "*" {
		return true
	}
	if inner == "*" {
		return false
	}
	iObj, iAct := splitType(inner)
	oObj, oAct := splitType(outer)
	objOK := oObj == "*" || oObj == iObj
	actOK := oAct == "*" || oAct == iAct
	return objOK && actOK
}

func splitType(t string) (object, action string) {
	for i := 0; i < len(t); i++ {
		if t[i] == '.' {
			return t[:i], t[i+1:]
		}
	}
	return t, ""
}
