package sdk

import "strings"

// The checks below are the one definition of a plugin's name and of an event type's grammar, which
// the host's manifest check, its subscription API and the plugin tools all hold to. They are written
// by hand, not as regular expressions, because this package is linked into every guest: a package
// regexp would be compiled in each guest's start.

// PluginNameRule says in words what IsPluginName accepts, for error messages.
const PluginNameRule = "1-63 lowercase letters, digits, '-' or '_', starting with a letter"

// maxPluginNameLen keeps a plugin's name usable as a file name and a URL segment.
const maxPluginNameLen = 63

// IsPluginName reports whether name matches ^[a-z][a-z0-9_-]{0,62}$ (PluginNameRule).
func IsPluginName(name string) bool {
	if name == "" || len(name) > maxPluginNameLen || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// IsTypeWord reports whether w matches [a-z][a-z0-9_]*: one side of an event type.
func IsTypeWord(w string) bool {
	if w == "" || w[0] < 'a' || w[0] > 'z' {
		return false
	}
	for i := 1; i < len(w); i++ {
		if c := w[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// IsEventType reports whether s is a canonical event type, "object.action": two type words. The host
// checks every published event with it; as a regexp it was 0.6% of the server's CPU in the load
// generator's 64 x 1 run.
func IsEventType(s string) bool {
	object, action, ok := strings.Cut(s, ".")
	return ok && IsTypeWord(object) && IsTypeWord(action)
}

// IsTypePattern reports whether p is an event type or a pattern MatchType understands: either side
// "*" ("client.*", "*.create"), or "*" alone.
func IsTypePattern(p string) bool {
	if p == "*" {
		return true
	}
	object, action, ok := strings.Cut(p, ".")
	return ok && (object == "*" || IsTypeWord(object)) && (action == "*" || IsTypeWord(action))
}
