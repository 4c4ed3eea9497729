package host

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
)

// iVvy's API signs every request (developer.ivvy.com, "Signing the request"):
//
//	X-Api-Authorization: IWS <key>:<hex HMAC-SHA1 of the string to sign, under the key's secret>
//
// where the string to sign is, lowercased, method + Content-MD5 + Content-Type + Date (empty when
// an IVVY-Date header is sent instead) + the request path and query + X-Api-Version + the IVVY-*
// headers as "name=value" (name without '-' and '_'), sorted and joined with '&'. Requests more
// than five minutes from the server's clock are refused.
//
// On Switchyard the key is a credential's ID and its secret is derived from it with a key the node
// keeps for this style (engine.Secrets, named ivvy-api-key): credentials are stored only as hashes, and an HMAC can
// only be checked with the secret itself. GET /compat/ivvy/api-key, called with the credential's
// token, tells its holder the pair. A credential's token also works as it is, as
// "Authorization: Bearer" or "x-api-key".

const (
	// apiKeyFile names the style's secret; on a node with a data dir it is that file.
	apiKeyFile    = "ivvy-api-key"
	maxRequestAge = 5 * time.Minute
	// apiVersion is the version of iVvy's API this one is, the 1.0 of /api/1.0.
	apiVersion = "1.0"
	// compatPrefix is where this API is mounted; iVvy's client libraries sign the path without it.
	compatPrefix = "/compat/ivvy"
)

type apiKeys struct{ master []byte }

// loadAPIKeys reads the key secrets are derived with, made on the node's first start.
func loadAPIKeys(secrets engine.Secrets) (*apiKeys, error) {
	master, err := secrets.Secret(apiKeyFile)
	if err != nil {
		return nil, fmt.Errorf("ivvy: %w", err)
	}
	return &apiKeys{master: master}, nil
}

// secretFor is the IWS secret of a credential.
func (k *apiKeys) secretFor(credentialID string) string {
	mac := hmac.New(sha256.New, k.master)
	mac.Write([]byte("switchyard ivvy api secret\x00" + credentialID))
	return hex.EncodeToString(mac.Sum(nil))
}

// apiKey tells a credential's holder its iVvy key and secret.
func (s *Style) apiKey(c echo.Context) error {
	p := web.Principal(c)
	if p == nil || p.Credential == nil || p.Credential.Kind == engine.CredentialClient {
		return fmt.Errorf("an iVvy API key is derived from an app's API key or access token; call this with one: %w", engine.ErrForbidden)
	}
	return c.JSON(http.StatusOK, map[string]string{"apiKey": p.Credential.ID, "apiSecret": s.keys.secretFor(p.Credential.ID)})
}

// authenticate resolves an IWS-signed request, or a Switchyard credential.
func (s *Style) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var p *engine.Principal
		var err error
		if auth := r.Header.Get("X-Api-Authorization"); auth != "" {
			p, err = s.verifyIWS(c, auth)
		} else {
			p, err = s.auth.Token(r.Context(), web.BearerOrAPIKey(r))
		}
		if err != nil {
			return err
		}
		web.SetPrincipal(c, p)
		return next(c)
	}
}

var errBadSignature = fmt.Errorf("the request's signature does not match: %w", engine.ErrUnauthorized)

func (s *Style) verifyIWS(c echo.Context, auth string) (*engine.Principal, error) {
	r := c.Request()
	scheme, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	key, sig, ok := strings.Cut(strings.TrimSpace(rest), ":")
	if !strings.EqualFold(scheme, "IWS") || !ok || key == "" || sig == "" {
		return nil, fmt.Errorf("X-Api-Authorization must be \"IWS key:signature\": %w", engine.ErrUnauthorized)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := md5.Sum(body)
	contentMD5 := r.Header.Get("Content-MD5")
	if !strings.EqualFold(contentMD5, hex.EncodeToString(sum[:])) {
		return nil, fmt.Errorf("Content-MD5 must be the hex MD5 of the body: %w", engine.ErrUnauthorized)
	}
	at, dateField, err := requestTime(r.Header)
	if err != nil {
		return nil, err
	}
	if now := s.engine.Clock().Now(); at.Before(now.Add(-maxRequestAge)) || at.After(now.Add(maxRequestAge)) {
		return nil, errStale
	}

	got, err := hex.DecodeString(strings.ToLower(sig))
	// iVvy's .NET SDK signs the API version but sends no X-Api-Version header: without one, the
	// version is the one in the path, the only one this API serves.
	version := r.Header.Get("X-Api-Version")
	if version == "" {
		version = apiVersion
	}
	p, authErr := s.auth.Signed(r.Context(), key, func(cred *engine.Credential) bool {
		secret := s.keys.secretFor(cred.ID)
		match := false
		for _, path := range requestStrings(r) {
			mac := hmac.New(sha1.New, []byte(secret))
			mac.Write([]byte(StringToSign(r.Method, contentMD5, r.Header.Get("Content-Type"), dateField, path, version, r.Header)))
			if err == nil && subtle.ConstantTimeCompare(mac.Sum(nil), got) == 1 {
				match = true
			}
		}
		return match
	})
	if errors.Is(authErr, engine.ErrUnauthorized) && !errors.Is(authErr, engine.ErrRateLimited) {
		return nil, errBadSignature
	}
	return p, authErr
}

// requestTime reads when a request was signed: IVVY-Date (iVvy's timestamp format, UTC), which
// empties the date part of the string to sign, or else Date.
func requestTime(h http.Header) (at time.Time, dateField string, err error) {
	if v := h.Get("IVVY-Date"); v != "" {
		at, err := time.Parse("2006-01-02 15:04:05", v)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("IVVY-Date must be yyyy-mm-dd HH:mm:ss (UTC): %w", engine.ErrUnauthorized)
		}
		return at, "", nil
	}
	v := h.Get("Date")
	if v == "" {
		return time.Time{}, "", fmt.Errorf("a Date or IVVY-Date header is required: %w", engine.ErrUnauthorized)
	}
	// iVvy's own example is "Tue, 03 Apr, 2012 22:23:24 utc", and iVvy reads dates as PHP does,
	// ignoring case. Go reads names of days and months in any case but a zone abbreviation only in
	// capitals, so the last field is read in capitals; the string signed stays as sent.
	norm := strings.TrimSpace(v)
	if i := strings.LastIndexByte(norm, ' '); i >= 0 {
		norm = norm[:i+1] + strings.ToUpper(norm[i+1:])
	}
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 02 Jan, 2006 15:04:05 MST", "Mon, 02 Jan, 2006 15:04:05 -0700", time.RFC850, time.ANSIC} {
		if at, err := time.Parse(layout, norm); err == nil {
			return at, v, nil
		}
	}
	return time.Time{}, "", fmt.Errorf("the Date header is not an HTTP date: %w", engine.ErrUnauthorized)
}

// requestStrings are the paths a client may have signed: the path it called, and the path without
// the /compat/ivvy mount point, which is what iVvy's own client libraries sign.
func requestStrings(r *http.Request) []string {
	full := r.URL.RequestURI()
	if rest, ok := strings.CutPrefix(full, compatPrefix); ok {
		return []string{full, rest}
	}
	return []string{full}
}

// StringToSign is the string an IWS signature covers.
func StringToSign(method, contentMD5, contentType, date, requestString, apiVersion string, h http.Header) string {
	var ivvy []string
	for name, values := range h {
		if len(values) == 0 || !strings.HasPrefix(strings.ToUpper(name), "IVVY") {
			continue
		}
		n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
		ivvy = append(ivvy, n+"="+values[0])
	}
	sort.Strings(ivvy)
	return strings.ToLower(method + contentMD5 + contentType + date + requestString + apiVersion + strings.Join(ivvy, "&"))
}
