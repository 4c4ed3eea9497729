package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestNodeServesItsSigningCertificate: the certificate of the key plugins sign with is public at
// the URL plugins are given, and the runtime signs with that very key.
func TestNodeServesItsSigningCertificate(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	url := node.CertificateURL()
	if !strings.HasPrefix(url, node.URL()+"/hooks/certificates/") || !strings.HasSuffix(url, ".pem") {
		t.Fatalf("certificate URL %s", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(node.ServerKey.CertPEM) || !strings.HasPrefix(string(body), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-pem-file" {
		t.Errorf("content type %q", ct)
	}
	if !node.Runtime().Config().ServerKey.Equal(node.ServerKey.Key) {
		t.Error("the runtime does not sign with the served certificate's key")
	}
	other, err := http.Get(node.URL() + "/hooks/certificates/0000.pem")
	if err != nil {
		t.Fatal(err)
	}
	other.Body.Close()
	if other.StatusCode != http.StatusNotFound {
		t.Errorf("another certificate name answered %d", other.StatusCode)
	}
}

// TestNodeServesHTTPS: with a certificate and key the node listens with TLS, its public URL and
// every URL it mints are https, and plain HTTP is not spoken.
func TestNodeServesHTTPS(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{TLS: true})
	if !strings.HasPrefix(node.URL(), "https://127.0.0.1:") || !strings.HasPrefix(node.CertificateURL(), "https://") {
		t.Fatalf("public URL %s, certificate URL %s", node.URL(), node.CertificateURL())
	}
	node.Admin.MustDo("GET", "/v1/accounts", nil, http.StatusOK, nil)
	resp, err := node.HTTPClient().Get(node.CertificateURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("certificate over HTTPS: %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	plain, err := http.Get("http://" + node.Addr() + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("the TLS listener answered plain HTTP with 200")
		}
	}
}

func TestNodeRefusesHalfATLSConfiguration(t *testing.T) {
	t.Parallel()
	certFile, _, _ := nodetest.TLSFiles(t)
	_, err := node.Open(context.Background(), node.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), TLSCertFile: certFile})
	if err == nil || !strings.Contains(err.Error(), "both a certificate file and a key file") {
		t.Fatalf("err %v", err)
	}
}
