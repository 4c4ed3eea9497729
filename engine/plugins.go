package engine

import (
	"context"
	"sort"
	"sync"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// Plugin is a loaded plugin as the engine uses it; *runtime.Plugin implements it.
//
// The engine reads two things from a call's error through methods, so that it needs no plugin
// runtime's types: PluginClosed() true means the plugin was replaced or removed and nothing ran;
// Retryable() false means the plugin refused on purpose and would refuse again; PluginBusy()
// (a time.Duration) means nothing ran because the plugin had no instance free in time or is
// quarantined, and the call may be made again that much later, without counting an attempt. Any
// other error (a trap, a timeout) may pass on the next attempt.
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
//
// A delivery holds its plugin from shaping to judging the response (Acquire), so that a plugin
// replaced in between is not closed under it: Retire closes a replaced plugin only once the last
// delivery holding it lets go. Without that, a swap between shape and on_response would leave the
// response judged by no plugin at all.
type Plugins struct {
	mu     sync.RWMutex
	byName map[string]Plugin
	// holds counts deliveries holding each plugin; retiring are replaced or removed plugins
	// waiting for their holders to let go, with what to do then.
	holds    map[Plugin]int
	retiring map[Plugin]func()
}

// NewPlugins returns an empty set.
func NewPlugins() *Plugins {
	return &Plugins{byName: map[string]Plugin{}, holds: map[Plugin]int{}, retiring: map[Plugin]func(){}}
}

// Acquire returns the plugin named name and holds it until release is called: a plugin retired in
// the meantime is not closed before then. release is safe to call more than once.
func (ps *Plugins) Acquire(name string) (p Plugin, release func(), ok bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok = ps.byName[name]
	if !ok {
		return nil, func() {}, false
	}
	ps.holds[p]++
	var once sync.Once
	return p, func() { once.Do(func() { ps.letGo(p) }) }, true
}

func (ps *Plugins) letGo(p Plugin) {
	ps.mu.Lock()
	ps.holds[p]--
	var done func()
	if ps.holds[p] <= 0 {
		delete(ps.holds, p)
		done = ps.retiring[p]
		delete(ps.retiring, p)
	}
	ps.mu.Unlock()
	if done != nil {
		done()
	}
}

// Retire runs done (typically closing p) once no delivery holds p: at once if none does. Call it
// with a plugin that Put replaced or Remove removed.
func (ps *Plugins) Retire(p Plugin, done func()) {
	ps.mu.Lock()
	if ps.holds[p] > 0 {
		ps.retiring[p] = done
		ps.mu.Unlock()
		return
	}
	ps.mu.Unlock()
	done()
}

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

// overlaps reports whether a subscription pattern can match any event type the manifest accepts.
// It need not lie within one entry: client.* suits a plugin that lists client.create,
// client.update and client.delete, and routing drops the types the plugin does not accept.
func overlaps(m *sdk.Manifest, pattern string) bool {
	for _, e := range m.Events {
		if patternsOverlap(pattern, e.Type) {
			return true
		}
	}
	return false
}

// patternsOverlap reports whether some event type matches both patterns.
func patternsOverlap(a, b string) bool {
	if a == "*" || b == "*" {
		return true
	}
	aObj, aAct := splitType(a)
	bObj, bAct := splitType(b)
	part := func(x, y string) bool { return x == "*" || y == "*" || x == y }
	return part(aObj, bObj) && part(aAct, bAct)
}

func splitType(t string) (object, action string) {
	for i := 0; i < len(t); i++ {
		if t[i] == '.' {
			return t[:i], t[i+1:]
		}
	}
	return t, ""
}
