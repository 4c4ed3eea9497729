package host_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// resultOrError is how iVvy's .NET SDK (ivvycode/ivvy-sdk-net, ResultOrError<T> and its
// ResponseConverter) reads an answer: a body with "errorCode" is an error, whatever the HTTP status,
// and its fields are read as strings.
type resultOrError struct {
	ErrorCode, ErrorCodeSpecific, ErrorMessage string
	AdditionalMessages                         []string
	Status                                     int
	Result                                     map[string]any
}

func (r resultOrError) IsSuccess() bool { return r.ErrorCode == "" }

// sdkClient calls iVvy's API as the .NET SDK's ApiClient.CallAsync does, or, with dateHeader set,
// as the "Signing the request" pseudo-code does with a Date header instead of IVVY-Date.
type sdkClient struct {
	baseURL, key, secret string
	hc                   *http.Client
}

func (c sdkClient) call(t *testing.T, namespace, action string, body []byte, at time.Time, dateHeader string) resultOrError {
	t.Helper()
	const apiVersion = "1.0"
	contentType := "application/json; charset=utf-8"
	sum := md5.Sum(body)
	contentMD5 := hex.EncodeToString(sum[:])
	requestURI := "/api/" + apiVersion + "/" + namespace + "?action=" + action
	ivvyDate := at.UTC().Format("2006-01-02 15:04:05")
	date, headersToSign := "", "IVVYDate="+ivvyDate
	if dateHeader != "" {
		date, headersToSign = dateHeader, ""
	}
	// The SDK signs the API version but sends no X-Api-Version header: the version is the path's.
	toSign := strings.ToLower("POST" + contentMD5 + contentType + date + requestURI + apiVersion + headersToSign)
	mac := hmac.New(sha1.New, []byte(c.secret))
	mac.Write([]byte(toSign))
	req, err := http.NewRequest("POST", c.baseURL+requestURI, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Content-MD5", contentMD5)
	if dateHeader != "" {
		req.Header.Set("Date", dateHeader)
	} else {
		req.Header.Set("IVVY-Date", ivvyDate)
	}
	req.Header.Set("X-Api-Authorization", "IWS "+c.key+":"+hex.EncodeToString(mac.Sum(nil)))
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%d %s: not a JSON object: %v", resp.StatusCode, raw, err)
	}
	out := resultOrError{Status: resp.StatusCode}
	str := func(v any) string {
		switch v := v.(type) {
		case nil:
			return ""
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	if code, ok := obj["errorCode"]; !ok || code == nil {
		out.Result = obj
		return out
	}
	out.ErrorCode, out.ErrorCodeSpecific, out.ErrorMessage = str(obj["errorCode"]), str(obj["specificCode"]), str(obj["message"])
	if am, ok := obj["additionalMessages"].([]any); ok {
		for _, m := range am {
			out.AdditionalMessages = append(out.AdditionalMessages, str(m))
		}
	}
	return out
}

// TestIVvyClientsReadErrorsAsIVvyAnswersThem checks the answers iVvy's documentation gives
// ("Interpreting the response: Exceptions"): a parameter that does not validate is errorCode 400,
// specificCode 23016, "'key' does not validate", with the validator's message; a stale request is
// errorCode 401, specificCode 23005, "Request is stale". And a Date header in the documentation's
// own example form ("Tue, 03 Apr, 2012 22:23:24 utc") is accepted.
func TestIVvyClientsReadErrorsAsIVvyAnswersThem(t *testing.T) {
	t.Parallel()
	s := start(t)
	var pair struct{ APIKey, APISecret string }
	s.primary.MustDo("GET", "/compat/ivvy/api-key", nil, http.StatusOK, &pair)
	c := sdkClient{baseURL: s.node.URL() + "/compat/ivvy", key: pair.APIKey, secret: pair.APISecret, hc: s.node.HTTPClient()}
	now := time.Now()

	if r := c.call(t, "account", "subscribeToNotifications", []byte(`{}`), now, ""); !r.IsSuccess() || r.Status != 200 {
		t.Fatalf("a call signed as the .NET SDK signs it: %+v", r)
	}
	for _, tc := range []struct {
		name, body, message string
	}{
		{"unknown endpoint key", `{"widgetsEndpoint":"https://example.com/hook"}`, "'widgetsEndpoint' does not validate"},
		{"URL not a string", `{"companiesEndpoint":5}`, "'companiesEndpoint' does not validate"},
	} {
		r := c.call(t, "account", "subscribeToNotifications", []byte(tc.body), now, "")
		if r.Status != 400 || r.ErrorCode != "400" || r.ErrorCodeSpecific != "23016" || r.ErrorMessage != tc.message || len(r.AdditionalMessages) != 1 {
			t.Errorf("%s: %+v, want HTTP 400, errorCode 400, specificCode 23016, %q and the validator's message", tc.name, r, tc.message)
		}
	}
	if r := c.call(t, "account", "", []byte(`{}`), now, ""); r.ErrorCode != "400" || r.ErrorCodeSpecific != "23017" || r.ErrorMessage != "'action' is required" {
		t.Errorf("no action: %+v, want errorCode 400, specificCode 23017", r)
	}
	stale := c.call(t, "account", "subscribeToNotifications", []byte(`{}`), now.Add(-10*time.Minute), "")
	if stale.Status != 401 || stale.ErrorCode != "401" || stale.ErrorCodeSpecific != "23005" || stale.ErrorMessage != "Request is stale" {
		t.Errorf("a request ten minutes old: %+v, want errorCode 401, specificCode 23005, Request is stale", stale)
	}

	// The documentation's Date example, "Tue, 03 Apr, 2012 22:23:24 utc", at the present time.
	exampleForm := now.UTC().Format("Mon, 02 Jan, 2006 15:04:05") + " utc"
	if r := c.call(t, "account", "subscribeToNotifications", []byte(`{}`), now, exampleForm); !r.IsSuccess() {
		t.Errorf("Date %q: %+v", exampleForm, r)
	}
	rfc := now.UTC().Format(http.TimeFormat)
	if r := c.call(t, "account", "subscribeToNotifications", []byte(`{}`), now, rfc); !r.IsSuccess() {
		t.Errorf("Date %q: %+v", rfc, r)
	}
	old := now.Add(-10*time.Minute).UTC().Format("Mon, 02 Jan, 2006 15:04:05") + " utc"
	if r := c.call(t, "account", "subscribeToNotifications", []byte(`{}`), now, old); r.ErrorCodeSpecific != "23005" {
		t.Errorf("a stale Date %q: %+v", old, r)
	}
}
