package node

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/store/postgres"
)

// Nodes sharing a PostgreSQL database keep in it what a node alone keeps in its data dir and every
// node must hold alike: the server's signing key and its certificate (so that every node signs
// alike and serves the same certificate URL), the admin token, and the vendor styles' keys. The
// first node to need one makes it; the others read it (postgres.Store.SharedSecret).

// Names of the shared secrets.
const (
	sharedServerKey   = "server_key"
	sharedServerCert  = "server_certificate"
	sharedAdminToken  = "admin_token"
	sharedStylePrefix = "style:"
)

// sharedServerKeyOf returns the database's server key and certificate, made now when there is
// none; generated reports that this call made the key.
func sharedServerKeyOf(ctx context.Context, db *postgres.Store, now time.Time) (*ServerKey, bool, error) {
	keyPEM, generated, err := db.SharedSecret(ctx, sharedServerKey, func() ([]byte, error) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return nil, false, err
	}
	key, err := parseServerKey(keyPEM, "in the database")
	if err != nil {
		return nil, false, err
	}
	certPEM, _, err := db.SharedSecret(ctx, sharedServerCert, func() ([]byte, error) { return selfSignedCertificate(key, now) })
	if err != nil {
		return nil, false, err
	}
	if err := certificateMatches(certPEM, key); err != nil {
		return nil, false, fmt.Errorf("server certificate in the database: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(block.Bytes)
	return &ServerKey{Key: key, CertPEM: certPEM, Fingerprint: hex.EncodeToString(sum[:])}, generated, nil
}

// sharedAdminTokenOf returns the operator's token: the configured one, else the database's, made
// now when there is none.
func sharedAdminTokenOf(ctx context.Context, db *postgres.Store, configured string) (token string, generated bool, err error) {
	if configured != "" {
		return configured, false, nil
	}
	b, generated, err := db.SharedSecret(ctx, sharedAdminToken, func() ([]byte, error) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		return []byte("sya_" + base64.RawURLEncoding.EncodeToString(raw)), nil
	})
	return string(b), generated, err
}

// dbSecrets keeps the styles' secrets in the shared database, as dataDirSecrets keeps them in a
// node's data dir.
type dbSecrets struct{ db *postgres.Store }

func (s dbSecrets) Secret(name string) ([]byte, error) {
	key, _, err := s.db.SharedSecret(context.Background(), sharedStylePrefix+name, func() ([]byte, error) {
		key := make([]byte, secretBytes)
		_, err := rand.Read(key)
		return key, err
	})
	if err == nil && len(key) < secretBytes {
		err = fmt.Errorf("shared secret %s is not a %d-byte key", name, secretBytes)
	}
	return key, err
}
