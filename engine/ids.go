package engine

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"

	"github.com/switchyard/switchyard/sdk"
)

// crockford is Crockford's base32 alphabet, in lowercase: no i, l, o or u to misread.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

var (
	idMu     sync.Mutex
	idLastMS int64
	idLast   [10]byte
)

// NewID returns prefix + "_" + a 26-character ULID: 48 bits of milliseconds then 80 random bits,
// so IDs sort by creation time (cursor pagination relies on it). Within one millisecond the random
// part is incremented, which keeps IDs from one process strictly increasing.
func NewID(prefix string) string {
	idMu.Lock()
	ms := time.Now().UnixMilli()
	if ms <= idLastMS {
		ms = idLastMS
		for i := len(idLast) - 1; i >= 0; i-- {
			idLast[i]++
			if idLast[i] != 0 {
				break
			}
		}
	} else {
		idLastMS = ms
		_, _ = rand.Read(idLast[:])
	}
	var raw [16]byte
	for i := 5; i >= 0; i-- {
		raw[i] = byte(ms)
		ms >>= 8
	}
	copy(raw[6:], idLast[:])
	idMu.Unlock()

	out := make([]byte, 0, len(prefix)+1+26)
	out = append(out, prefix...)
	out = append(out, '_')
	// 128 bits as 26 base32 digits (130 bits): the first digit carries the top 3 bits.
	out = append(out, crockford[raw[0]>>5])
	acc, bits := uint64(raw[0]&0x1f), 5
	for _, b := range raw[1:] {
		acc = acc<<8 | uint64(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, crockford[(acc>>uint(bits))&31])
		}
	}
	return string(out)
}

// randomToken returns n random bytes as unpadded URL-safe base64.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSigningSecret returns a signing secret in the Standard Webhooks form: "whsec_" and 32 random
// bytes in base64. The host signs with the decoded bytes.
func NewSigningSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// newSecret generates a signing secret for a subscription of m's format: for a style whose
// receivers use the secret verbatim, 32 random bytes in hex, which sign as the text they are.
func newSecret(m *sdk.Manifest) string {
	if !m.VerbatimSecrets {
		return NewSigningSecret()
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
