package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/api/apitest"
)

// TestNodeServesItsSigningCertificate: the certificate of the key plugins sign with is public at
// the URL plugins are given, and the runtime signs with that very key.
func TestNodeServesItsSigningCertificate(t *testing.T) {
	t.Parallel()
	node := apitest.Start(t, apitest.Options{})
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
