package runtime

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrInvalidPlugin is wrapped by every reason Load refuses a module.
	ErrInvalidPlugin = errors.New("invalid plugin")
	// ErrClosed is returned by calls to a plugin that has been closed (replaced or removed).
	ErrClosed error = closedError{}
	// ErrNoHook is returned when a plugin is asked for a hook its manifest does not list.
	ErrNoHook = errors.New("plugin has no such hook")
	// ErrNotGranted is wrapped by a call that asked to sign with a key the plugin was not granted.
	ErrNotGranted = errors.New("key not granted")
)

// Reason says why a plugin instance died during a call.
type Reason string

const (
	ReasonTimeout        Reason = "timeout"
	ReasonOutOfMemory    Reason = "out_of_memory"
	ReasonPanic          Reason = "panic"
	ReasonTrap           Reason = "trap"
	ReasonOutputTooLarge Reason = "output_too_large"
	ReasonBadOutput      Reason = "bad_output"
	ReasonExit           Reason = "exit"
)

// TrapError reports a call whose instance can no longer be trusted: it trapped, panicked, ran out of
// memory or time, or returned garbage. The instance has been closed; the plugin keeps serving.
type TrapError struct {
	Plugin string
	Export string
	Reason Reason
	// Detail is what the plugin wrote to stderr last (a Go panic's message, for instance), if anything.
	Detail string
	Err    error
}

func (e *TrapError) Error() string {
	msg := fmt.Sprintf("plugin %s: %s: %s", e.Plugin, e.Export, e.Reason)
	if e.Detail != "" {
		msg += ": " + e.Detail
	} else if e.Err != nil {
		msg += ": " + firstLine(e.Err.Error())
	}
	return msg
}

func (e *TrapError) Unwrap() error { return e.Err }

// PluginError is an error the plugin returned on purpose; its instance is kept.
type PluginError struct {
	Plugin  string
	Export  string
	Message string
	// Temporary is what the plugin said: the same input may succeed later.
	Temporary bool
	// Err is the host's reason, when the host failed the call (ErrNotGranted).
	Err error
}

func (e *PluginError) Unwrap() error { return e.Err }

// Retryable answers the engine (engine.Plugin): may the next attempt pass?
func (e *PluginError) Retryable() bool { return e.Temporary }

func (e *PluginError) Error() string {
	return fmt.Sprintf("plugin %s: %s: %s", e.Plugin, e.Export, e.Message)
}

// BusyError is a call refused before it ran: no instance of the plugin came free in time, or the
// plugin is quarantined for trapping call after call. Nothing ran, so nothing about the input is
// known; the same call may run after RetryIn.
type BusyError struct {
	Plugin      string
	Quarantined bool
	RetryIn     time.Duration
}

func (e *BusyError) Error() string {
	if e.Quarantined {
		return fmt.Sprintf("plugin %s is quarantined after trapping call after call; retry in %s", e.Plugin, e.RetryIn.Round(time.Millisecond))
	}
	return fmt.Sprintf("plugin %s: every instance is busy; retry in %s", e.Plugin, e.RetryIn.Round(time.Millisecond))
}

// PluginBusy tells the engine (engine.Plugin) that nothing ran, and when to try again.
func (e *BusyError) PluginBusy() time.Duration { return e.RetryIn }

type closedError struct{}

func (closedError) Error() string { return "plugin closed" }

// PluginClosed tells the engine (engine.Plugin) that nothing ran.
func (closedError) PluginClosed() bool { return true }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// invalid wraps a reason to refuse a module.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPlugin, fmt.Sprintf(format, args...))
}
