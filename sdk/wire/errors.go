package wire

// The SDK builds its error messages without fmt: inside a plugin module, fmt (with the reflection it
// brings) and encoding/json's encoder were about a quarter of the standard plugin's module, and of the
// time its first call waits for the module to compile.

// detailedError is an error that says more than the error it wraps.
type detailedError struct {
	msg string
	err error
}

func (e *detailedError) Error() string { return e.msg }
func (e *detailedError) Unwrap() error { return e.err }

// Wrap returns err after prefix, as fmt.Errorf("prefix: %w", err) would.
func Wrap(prefix string, err error) error {
	return &detailedError{msg: prefix + ": " + err.Error(), err: err}
}

// Detail returns err with detail after it, as fmt.Errorf("%w: detail", err) would.
func Detail(err error, detail string) error {
	return &detailedError{msg: err.Error() + ": " + detail, err: err}
}
