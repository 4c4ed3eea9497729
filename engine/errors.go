package engine

import (
	"errors"
	"fmt"
)

// Conditions callers test for. The API maps each to one HTTP status in one place.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrInvalid      = errors.New("invalid input")
	ErrTooLarge     = errors.New("too large")
	// ErrUnavailable means the engine is stopping or not started.
	ErrUnavailable = errors.New("unavailable")
	// ErrRateLimited means a caller made requests faster than its limit.
	ErrRateLimited = errors.New("rate limited")
)

// ValidationError says which input field is wrong and why. It wraps ErrInvalid.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalidf(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, ErrNotFound) }

// ConflictError is a request the target's present state does not allow. Its message is the whole
// sentence the client reads, so that wrapping it on its way up (store, engine) does not repeat
// itself in the answer. It wraps ErrConflict.
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Conflictf makes a ConflictError.
func Conflictf(format string, args ...any) error {
	return &ConflictError{Message: fmt.Sprintf(format, args...)}
}
