package sdk

import (
	"errors"
	"strconv"
)

// Codes the host's sign function returns instead of a length.
const (
	SignErrNoKey       = -1
	SignErrAlgorithm   = -2
	SignErrBufferSmall = -3
	SignErrFailed      = -4
	SignErrNotGranted  = -5
)

// ErrAlgorithm is returned by Sign for an algorithm the key cannot be used with.
var ErrAlgorithm = errors.New("unsupported signature algorithm for this key")

// ErrNotGranted is returned by Sign for a key this plugin may not use: the server's key, unless the
// plugin is built in or the operator granted it the key by name.
var ErrNotGranted = errors.New("the operator has not granted this plugin that key")

func signError(code int32) error {
	switch code {
	case SignErrNotGranted:
		return ErrNotGranted
	case SignErrNoKey:
		return ErrNoKey
	case SignErrAlgorithm:
		return ErrAlgorithm
	case SignErrBufferSmall:
		return errors.New("sign: signature larger than the buffer")
	}
	return errors.New("sign failed (code " + strconv.Itoa(int(code)) + ")")
}
