package node

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Files of the server signing key in the data dir.
const (
	serverKeyFile  = "server-key.pem"
	serverCertFile = "server-cert.pem"
)

// ServerKey is the node's RSA signing key (sdk.KeyServer) and its self-signed certificate, which
// receivers fetch to verify what plugins signed with it (SNS-style signatures, say). The private key
// stays in the host: plugins only ask the host to sign.
type ServerKey struct {
	Key *rsa.PrivateKey
	// CertPEM is the certificate, PEM-encoded, as it is served.
	CertPEM []byte
	// Fingerprint is the hex SHA-256 of the certificate's DER bytes.
	Fingerprint string
}

// CertificatePath is the path, under the public URL, the certificate is served at. It ends in .pem
// (SNS validators insist) and names the certificate's fingerprint, so a new key gets a new URL and
// receivers that cache certificates by URL never verify with a stale one.
func (k *ServerKey) CertificatePath() string {
	return "/hooks/certificates/" + k.Fingerprint[:32] + ".pem"
}

// LoadOrCreateServerKey reads the signing key and certificate from dataDir, generating an RSA-2048
// key (mode 0600) on first start and a certificate (valid ten years) whenever it is missing.
// generated reports that a new key was made.
func LoadOrCreateServerKey(dataDir string, now time.Time) (k *ServerKey, generated bool, err error) {
	keyPath := filepath.Join(dataDir, serverKeyFile)
	certPath := filepath.Join(dataDir, serverCertFile)
	key, err := readServerKey(keyPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, false, fmt.Errorf("generate server key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, fmt.Errorf("encode server key: %w", err)
		}
		// A certificate left by an earlier key would no longer match.
		_ = os.Remove(certPath)
		if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, false, fmt.Errorf("write server key: %w", err)
		}
		generated = true
	case err != nil:
		return nil, false, err
	}

	certPEM, err := os.ReadFile(certPath)
	if err == nil {
		err = certificateMatches(certPEM, key)
	}
	if err != nil {
		if certPEM, err = selfSignedCertificate(key, now); err != nil {
			return nil, false, err
		}
		if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
			return nil, false, fmt.Errorf("write server certificate: %w", err)
		}
	}
	block, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(block.Bytes)
	return &ServerKey{Key: key, CertPEM: certPEM, Fingerprint: hex.EncodeToString(sum[:])}, generated, nil
}

func readServerKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseServerKey(b, path)
}

// parseServerKey reads an RSA key in PEM (PKCS #8 or #1); where says where it came from.
func parseServerKey(b []byte, where string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("server key %s: no PEM block", where)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("server key %s: %w", where, err)
		}
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("server key %s: an RSA key is needed, not %T", where, parsed)
	}
	return key, nil
}

// certificateMatches checks that a certificate file holds the public half of key.
func certificateMatches(certPEM []byte, key *rsa.PrivateKey) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("no certificate PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("the certificate is not the server key's")
	}
	return nil
}

func selfSignedCertificate(key *rsa.PrivateKey, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Switchyard message signing", Organization: []string{"Switchyard"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign server certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// writeFileAtomic writes a file under a temporary name and renames it into place, so a crash never
// leaves half a key behind.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
