package node

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServerKeyIsGeneratedOnceAndKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, generated, err := LoadOrCreateServerKey(dir, time.Now())
	if err != nil || !generated {
		t.Fatalf("first start: generated=%v err=%v", generated, err)
	}
	if first.Key.N.BitLen() != 2048 {
		t.Errorf("key has %d bits, want 2048", first.Key.N.BitLen())
	}
	info, err := os.Stat(filepath.Join(dir, serverKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	block, _ := pem.Decode(first.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.PublicKey.(*rsa.PublicKey).Equal(&first.Key.PublicKey) {
		t.Error("the certificate does not hold the key's public half")
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if sum := sha256.Sum256(block.Bytes); first.Fingerprint != hex.EncodeToString(sum[:]) {
		t.Errorf("fingerprint %s", first.Fingerprint)
	}
	if p := first.CertificatePath(); !strings.HasPrefix(p, "/hooks/certificates/") || !strings.HasSuffix(p, ".pem") {
		t.Errorf("certificate path %s", p)
	}

	second, generated, err := LoadOrCreateServerKey(dir, time.Now())
	if err != nil || generated {
		t.Fatalf("second start: generated=%v err=%v", generated, err)
	}
	if !second.Key.Equal(first.Key) || second.Fingerprint != first.Fingerprint {
		t.Error("a restart changed the key or certificate")
	}

	// A lost certificate is made again for the same key.
	if err := os.Remove(filepath.Join(dir, serverCertFile)); err != nil {
		t.Fatal(err)
	}
	third, generated, err := LoadOrCreateServerKey(dir, time.Now())
	if err != nil || generated || !third.Key.Equal(first.Key) {
		t.Fatalf("after losing the certificate: generated=%v err=%v", generated, err)
	}
	if err := certificateMatches(third.CertPEM, first.Key); err != nil {
		t.Error(err)
	}
}

func TestServerKeyRefusesAGarbledFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, serverKeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateServerKey(dir, time.Now()); err == nil || !strings.Contains(err.Error(), "no PEM block") {
		t.Fatalf("err %v", err)
	}
	// Nothing was overwritten: the operator's file is theirs to fix.
	if b, _ := os.ReadFile(filepath.Join(dir, serverKeyFile)); string(b) != "not a key" {
		t.Error("the garbled key file was replaced")
	}
}
