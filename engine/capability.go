package engine

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// CapabilityKey mints the tokens of capability URLs (a subscription's confirmation URL, an Upsales
// callback URL): whoever holds the URL may do its one thing, so the token is its credential. A
// token is "<id>.<HMAC of the id>": the node can make it again whenever a delivery carries the URL,
// so it never has to keep it, and stores only HashToken of it.
type CapabilityKey struct{ key []byte }

// NewCapabilityKey derives the key of one kind of token from a node secret; purpose keeps the kinds
// apart, so that a token of one kind is never valid as another.
func NewCapabilityKey(secret []byte, purpose string) CapabilityKey {
	if len(secret) == 0 {
		// Tokens then last as long as the process: only tests build an engine without a secret.
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return CapabilityKey{key: m.Sum(nil)}
}

// Token returns the token of id.
func (k CapabilityKey) Token(id string) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(id))
	return id + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ID returns the id a token was minted for, and whether this key minted it.
func (k CapabilityKey) ID(token string) (string, bool) {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return "", false
	}
	id := token[:i]
	return id, hmac.Equal([]byte(k.Token(id)), []byte(token))
}

// HashToken is how capability tokens are stored: the SHA-256 of the token, in hex. Tokens are
// 256-bit HMACs or random strings, so a plain hash is enough, as for credential secrets.
func HashToken(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}
