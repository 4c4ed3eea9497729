// Package signing implements the signature algorithms of the host's sign function. It is the one
// implementation: the runtime signs with it on a plugin's behalf, and package sdktest signs with it
// when plugin logic runs natively, so a test of a plugin checks the very bytes production sends.
package signing

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/switchyard/switchyard/sdk"
)

// Keyring holds the keys one call may sign with, by the references of package sdk.
type Keyring struct {
	Subscription         string
	SubscriptionPrevious string
	App                  string
	Server               *rsa.PrivateKey
	// Usage, when set, records every key a signature was made with, so the host can keep the
	// request that carries them to the subscription they were made for.
	Usage *Usage
}

// Usage is the set of keys signatures were made with. It is safe for concurrent use.
type Usage struct {
	mu   sync.Mutex
	refs []string
}

// Add records that a signature was made with the key ref names.
func (u *Usage) Add(ref string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !slices.Contains(u.refs, ref) {
		u.refs = append(u.refs, ref)
	}
}

// Refs returns the keys signed with, in the order first used; none for a nil Usage.
func (u *Usage) Refs() []string {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.refs)
}

// Sign signs msg with the key ref names, using alg, and records the key in k.Usage. It returns
// sdk.ErrNoKey when the reference names no key, and sdk.ErrAlgorithm when alg does not suit that key.
func (k *Keyring) Sign(ref, alg string, msg []byte) ([]byte, error) {
	sig, err := k.sign(ref, alg, msg)
	if err == nil && k.Usage != nil {
		k.Usage.Add(ref)
	}
	return sig, err
}

func (k *Keyring) sign(ref, alg string, msg []byte) ([]byte, error) {
	var secret string
	switch ref {
	case sdk.KeySubscription:
		secret = k.Subscription
	case sdk.KeySubscriptionPrevious:
		secret = k.SubscriptionPrevious
	case sdk.KeyApp:
		secret = k.App
	case sdk.KeyServer:
		if k.Server == nil {
			return nil, sdk.ErrNoKey
		}
		return SignRSA(k.Server, alg, msg)
	default:
		return nil, sdk.ErrNoKey
	}
	if secret == "" {
		return nil, sdk.ErrNoKey
	}
	if alg != sdk.HMACSHA256 {
		return nil, fmt.Errorf("%w: %s with an HMAC secret", sdk.ErrAlgorithm, alg)
	}
	return HMACSHA256(HMACKey(secret), msg), nil
}

// HMACKey returns the key bytes a secret stands for: "whsec_<base64>" (the Standard Webhooks form)
// decodes to its bytes; any other secret is used as it is.
func HMACKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return key
		}
	}
	return []byte(secret)
}

// HMACSHA256 returns the HMAC-SHA256 of msg under key.
func HMACSHA256(key, msg []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// SignRSA returns the RSASSA-PKCS1-v1_5 signature of msg with SHA-1 or SHA-256.
func SignRSA(key *rsa.PrivateKey, alg string, msg []byte) ([]byte, error) {
	var digest []byte
	var hash crypto.Hash
	switch alg {
	case sdk.RSASHA1:
		sum := sha1.Sum(msg)
		digest, hash = sum[:], crypto.SHA1
	case sdk.RSASHA256:
		sum := sha256.Sum256(msg)
		digest, hash = sum[:], crypto.SHA256
	default:
		return nil, fmt.Errorf("%w: %s with an RSA key", sdk.ErrAlgorithm, alg)
	}
	return rsa.SignPKCS1v15(rand.Reader, key, hash, digest)
}
