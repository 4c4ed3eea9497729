package host

import (
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/salesking"
	"github.com/switchyard/switchyard/sdk"
)

// channel is one channel of the loaded plugin's manifest.
type channel struct {
	// Name is the channel, which is also its canonical event type: client.create.
	Name string
	// Plural is the object's name in scopes: clients.
	Plural string
	// Action is create, update or delete.
	Action string
}

// channelSet is the channels the loaded salesking plugin delivers, in its manifest's order.
type channelSet struct {
	list   []channel
	byName map[string]channel
}

// channels reads the channel set from the loaded plugin, so that a plugin loaded anew is what the
// API offers.
func (s *Style) channelSet() (*channelSet, error) {
	p, ok := s.eng.Plugins().Get(salesking.Name)
	if !ok {
		return nil, fmt.Errorf("the %s plugin is not loaded: %w", salesking.Name, engine.ErrUnavailable)
	}
	return channelsOf(p.Manifest()), nil
}

func channelsOf(m sdk.Manifest) *channelSet {
	set := &channelSet{byName: map[string]channel{}}
	for _, e := range m.Events {
		_, action, ok := strings.Cut(e.Type, ".")
		if !ok || e.Name == "" || strings.Contains(e.Type, "*") {
			continue
		}
		ch := channel{Name: e.Name, Plural: e.Group, Action: action}
		set.list = append(set.list, ch)
		set.byName[ch.Name] = ch
	}
	return set
}

// allows reports whether any of a token's scopes lets it subscribe to ch. A notification scope is
// the object's plural, alone (every action) or with a comma-separated list of actions after a
// colon: "clients", "clients:create", "clients:create,update". Scopes with the api/ prefix grant
// API access, not notifications, and count for nothing here.
func allows(scopes []string, ch channel) bool {
	if ch.Plural == "" {
		return false
	}
	for _, scope := range scopes {
		if strings.HasPrefix(scope, "api/") {
			continue
		}
		object, actions, limited := strings.Cut(scope, ":")
		if !strings.EqualFold(object, ch.Plural) {
			continue
		}
		if !limited {
			return true
		}
		for _, a := range strings.Split(actions, ",") {
			if strings.EqualFold(strings.TrimSpace(a), ch.Action) {
				return true
			}
		}
	}
	return false
}

// scopeRefusal says why a token may not subscribe to ch, and which scope would allow it.
func scopeRefusal(scopes []string, ch channel) error {
	return fmt.Errorf("the access token's scope (%q) does not allow subscribing to %s: that needs the scope %s or %s:%s: %w",
		strings.Join(scopes, " "), ch.Name, ch.Plural, ch.Plural, ch.Action, engine.ErrForbidden)
}

var _ engine.ScopedStyle = (*Style)(nil)

// KnowsScope says whether scope is one SalesKing tokens carry: a notification scope naming an
// object the plugin delivers, with only actions it has ("clients", "invoices:create,update"), or
// an API scope ("api/clients"), which grants nothing here but is part of SalesKing's tokens.
func (s *Style) KnowsScope(scope string) bool {
	if rest, ok := strings.CutPrefix(scope, "api/"); ok {
		return rest != ""
	}
	set, err := s.channelSet()
	if err != nil {
		return false
	}
	object, actions, limited := strings.Cut(scope, ":")
	known := map[string]bool{}
	for _, ch := range set.list {
		if strings.EqualFold(ch.Plural, object) {
			known[strings.ToLower(ch.Action)] = true
		}
	}
	if len(known) == 0 {
		return false
	}
	if !limited {
		return true
	}
	for _, a := range strings.Split(actions, ",") {
		if !known[strings.ToLower(strings.TrimSpace(a))] {
			return false
		}
	}
	return true
}
