package host_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// arSub is SalesKing's SDK model as an app uses it, `sub = SK::SDK::Sub.new(...); sub.save`, with
// the save rules of the libraries underneath rather than Switchyard's: sk_sdk's SK::SDK::Base is an
// ActiveResource::Base with format :json and `def save; save_with_validation; end`.
type arSub struct {
	site, token string
	attrs       map[string]string
	// errors is ActiveResource::Errors: attribute => messages.
	errors map[string][]string
}

// arError is an exception ActiveResource raises from a request.
type arError struct {
	class string
	code  int
	body  string
}

func (e *arError) Error() string {
	return fmt.Sprintf("ActiveResource::%s (%d): %s", e.class, e.code, e.body)
}

// handleResponse is ActiveResource::Connection#handle_response: a 2xx or 3xx (bar redirects) is
// the response; every other status raises, each class by its code.
func handleResponse(code int, body string) error {
	classes := map[int]string{400: "BadRequest", 401: "UnauthorizedAccess", 403: "ForbiddenAccess", 404: "ResourceNotFound",
		405: "MethodNotAllowed", 409: "ResourceConflict", 410: "ResourceGone", 412: "PreconditionFailed", 422: "ResourceInvalid"}
	switch {
	case code == 301 || code == 302 || code == 303 || code == 307:
		return &arError{"Redirection", code, body}
	case code >= 200 && code < 400:
		return nil
	case classes[code] != "":
		return &arError{classes[code], code, body}
	case code < 500:
		return &arError{"ClientError", code, body}
	default:
		return &arError{"ServerError", code, body}
	}
}

// save is Validations#save_with_validation: it clears the errors, POSTs the model
// (Base#create: {"sub": attributes} to /api/subs.json), and rescues ResourceInvalid only, loading
// the response's errors and returning false. Any other exception propagates to the app.
func (s *arSub) save() (bool, error) {
	s.errors = map[string][]string{}
	body, _ := json.Marshal(map[string]any{"sub": s.attrs})
	req, err := http.NewRequest("POST", s.site+"/api/subs.json", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json") // ActiveResource's JSON format's mime type
	req.Header.Set("Authorization", "Bearer "+s.token) // sk_sdk's set_connection with :token
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	err = handleResponse(resp.StatusCode, string(raw))
	if ar, ok := err.(*arError); ok && ar.class == "ResourceInvalid" {
		s.fromJSON(raw)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// Base#load_attributes_from_response, with sk_sdk's initialize taking the "sub" root off.
	var doc map[string]map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return false, err
	}
	for k, v := range doc["sub"] {
		if str, ok := v.(string); ok {
			s.attrs[k] = str
		}
	}
	return true, nil
}

// fromJSON is ActiveResource 3's Errors#from_json, `Array.wrap(ActiveSupport::JSON.decode(json)
// ['errors']) rescue []`, then from_array as sk_sdk patches it (ar_patches/ar3/validations.rb): an
// Array element adds element[1] to attribute element[0]; a Hash element adds each of its messages.
func (s *arSub) fromJSON(raw []byte) {
	var doc struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return // rescue []
	}
	for _, m := range doc.Errors {
		var pair []string
		var hash map[string][]string
		switch {
		case json.Unmarshal(m, &pair) == nil && len(pair) >= 2:
			s.errors[pair[0]] = append(s.errors[pair[0]], pair[1])
		case json.Unmarshal(m, &hash) == nil:
			for attr, msgs := range hash {
				s.errors[attr] = append(s.errors[attr], msgs...)
			}
		}
	}
}

// TestActiveResourceSaveReadsValidationErrors saves subs the way sk_sdk's ActiveResource model
// does: an invalid one must make save return false with the errors on the model (which takes a
// 422), not raise.
func TestActiveResourceSaveReadsValidationErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.node.URL() + "/compat/salesking"

	noCallback := &arSub{site: site, token: b.token, attrs: map[string]string{"channel": "client.create"}}
	ok, err := noCallback.save()
	if err != nil || ok {
		t.Fatalf("save of a sub without callback_url: %v, %v; want false and no exception", ok, err)
	}
	if want := map[string][]string{"callback_url": {"can't be blank"}}; !reflect.DeepEqual(noCallback.errors, want) {
		t.Errorf("sub.errors %v, want %v", noCallback.errors, want)
	}

	outside := &arSub{site: site, token: b.token, attrs: map[string]string{"channel": "nope", "callback_url": "http://127.0.0.1:9/other"}}
	if ok, err := outside.save(); err != nil || ok {
		t.Fatalf("save of a sub with a wrong channel and callback: %v, %v", ok, err)
	}
	if len(outside.errors["channel"]) != 1 || len(outside.errors["callback_url"]) != 1 {
		t.Errorf("sub.errors %v, want one on channel and one on callback_url", outside.errors)
	}

	good := &arSub{site: site, token: b.token, attrs: map[string]string{"channel": "client.create", "callback_url": appURL + "/hook"}}
	if ok, err := good.save(); err != nil || !ok || good.attrs["id"] == "" || len(good.errors) != 0 {
		t.Fatalf("save of a valid sub: %v, %v, attributes %v, errors %v", ok, err, good.attrs, good.errors)
	}

	// A scope the token lacks is not a validation error: ActiveResource raises ForbiddenAccess.
	forbidden := &arSub{site: site, token: b.token, attrs: map[string]string{"channel": "client.delete", "callback_url": appURL}}
	if _, err := forbidden.save(); err == nil || err.(*arError).class != "ForbiddenAccess" {
		t.Errorf("save outside the scope: %v, want ActiveResource::ForbiddenAccess", err)
	}
}
