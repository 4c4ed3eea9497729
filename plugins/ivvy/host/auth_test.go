package host_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	ivvy "github.com/switchyard/switchyard/plugins/ivvy/host"
)

// TestStringToSignOfTheDocumentation reproduces the example of iVvy's "Signing the request".
func TestStringToSignOfTheDocumentation(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Date", "Tue, 03 Apr 2012 22:23:24 UTC")
	h.Set("IVVY-Date", "2012-04-03 22:23:24")
	h.Set("X-Api-Version", "1.0")
	got := ivvy.StringToSign("POST", "a09f600c77a6dbd947db24c61e8935ca", "application/json", "", "/api/1.0/test?action=ping", "1.0", h)
	want := "posta09f600c77a6dbd947db24c61e8935caapplication/json/api/1.0/test?action=ping1.0ivvydate=2012-04-03 22:23:24"
	if got != want {
		t.Errorf("string to sign\n%q\nwant\n%q", got, want)
	}
}

// iwsRequest signs a request as iVvy's documentation says, with openssl computing the HMAC-SHA1.
func iwsRequest(t *testing.T, base, signedPath, key, secret string, body []byte, at time.Time) *http.Request {
	t.Helper()
	return iwsRequestTo(t, base+"/compat/ivvy/api/1.0/account?action=subscribeToNotifications", signedPath, key, secret, body, at)
}

func iwsRequestTo(t *testing.T, url, signedPath, key, secret string, body []byte, at time.Time) *http.Request {
	t.Helper()
	sum := md5.Sum(body)
	contentMD5 := hex.EncodeToString(sum[:])
	ivvyDate := at.UTC().Format("2006-01-02 15:04:05")
	toSign := strings.ToLower("POST" + contentMD5 + "application/json" + signedPath + "1.0" + "ivvydate=" + ivvyDate)
	cmd := exec.Command("openssl", "dgst", "-sha1", "-hmac", secret, "-r")
	cmd.Stdin = strings.NewReader(toSign)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sig := strings.Fields(string(out))[0]
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-MD5", contentMD5)
	req.Header.Set("X-Api-Version", "1.0")
	req.Header.Set("IVVY-Date", ivvyDate)
	req.Header.Set("X-Api-Authorization", "IWS "+key+":"+sig)
	return req
}

// TestIWSSignedRequests: code that signs its calls as iVvy's API wants works unchanged, with the
// key pair the credential's holder gets from /compat/ivvy/api-key.
func TestIWSSignedRequests(t *testing.T) {
	t.Parallel()
	s := start(t)
	var pair struct{ APIKey, APISecret string }
	s.primary.MustDo("GET", "/compat/ivvy/api-key", nil, http.StatusOK, &pair)
	if pair.APIKey != s.credID || len(pair.APISecret) != 64 {
		t.Fatalf("key pair %+v", pair)
	}
	path := "/api/1.0/account?action=subscribeToNotifications"
	body := []byte(`{}`)
	hc := s.node.HTTPClient()
	send := func(req *http.Request) int {
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(iwsRequest(t, s.node.URL(), path, pair.APIKey, pair.APISecret, body, time.Now())); code != http.StatusOK {
		t.Errorf("signed without the mount point, as iVvy's libraries sign: %d", code)
	}
	if code := send(iwsRequest(t, s.node.URL(), "/compat/ivvy"+path, pair.APIKey, pair.APISecret, body, time.Now())); code != http.StatusOK {
		t.Errorf("signed over the full path: %d", code)
	}
	if code := send(iwsRequest(t, s.node.URL(), "/api/1.0/account?action=unsubscribeFromNotifications", pair.APIKey, pair.APISecret, body, time.Now())); code != http.StatusUnauthorized {
		t.Errorf("signed for another action: %d", code)
	}
	tampered := iwsRequest(t, s.node.URL(), path, pair.APIKey, pair.APISecret, body, time.Now())
	tampered.Body = http.NoBody
	tampered.ContentLength = 0
	if code := send(tampered); code != http.StatusUnauthorized {
		t.Errorf("a body that does not match Content-MD5: %d", code)
	}
	if code := send(iwsRequest(t, s.node.URL(), path, pair.APIKey, pair.APISecret, body, time.Now().Add(-10*time.Minute))); code != http.StatusUnauthorized {
		t.Errorf("a request ten minutes old: %d", code)
	}
	if code := send(iwsRequest(t, s.node.URL(), path, pair.APIKey, strings.Repeat("0", 64), body, time.Now())); code != http.StatusUnauthorized {
		t.Errorf("a wrong secret: %d", code)
	}
	// Revoking the credential revokes its iVvy key.
	s.node.Admin.MustDo("DELETE", "/v1/credentials/"+s.credID, nil, http.StatusOK, nil)
	if code := send(iwsRequest(t, s.node.URL(), path, pair.APIKey, pair.APISecret, body, time.Now())); code != http.StatusUnauthorized {
		t.Errorf("a revoked key: %d", code)
	}
}
