// Package web holds what every HTTP surface of Switchyard shares: the one mapping of errors to
// statuses, error bodies (JSON by default; a vendor-compatible route group may render its own
// style), strict JSON binding, and authentication.
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/auth"
)

// ErrBadJSON is wrapped by errors about request bodies that are not the JSON expected.
var ErrBadJSON = errors.New("malformed JSON")

// Status and code for an error: the one place errors become HTTP statuses.
func Status(err error) (status int, code string) {
	var he *echo.HTTPError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), errors.Is(err, engine.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrBadJSON):
		return http.StatusBadRequest, "invalid_json"
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Reading the request passed the server's read deadline (--read-timeout): the client sent
		// too slowly, which is no fault of the server's.
		return http.StatusRequestTimeout, "request_timeout"
	case errors.Is(err, engine.ErrInvalid):
		return http.StatusUnprocessableEntity, "validation_failed"
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, engine.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, engine.ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, engine.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, engine.ErrRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, engine.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.As(err, &he):
		return he.Code, strings.ReplaceAll(strings.ToLower(http.StatusText(he.Code)), " ", "_")
	}
	return http.StatusInternalServerError, "internal"
}

// Message is what an error tells the client. Internal errors say nothing of their cause.
func Message(err error, status int) string {
	var he *echo.HTTPError
	var conflict *engine.ConflictError
	switch {
	case status == http.StatusInternalServerError:
		return "internal error; the server log has the details"
	case status == http.StatusRequestEntityTooLarge:
		return "request body too large"
	case status == http.StatusRequestTimeout:
		return "the request was not received within the server's read timeout"
	case errors.As(err, &he):
		return fmt.Sprint(he.Message)
	case errors.As(err, &conflict):
		return conflict.Message
	}
	return err.Error()
}

// Renderer writes an error body in a route group's style.
type Renderer func(c echo.Context, err error, status int, code, message string) error

const rendererKey = "switchyard.error-renderer"

// UseRenderer is middleware that makes errors in a route group render in that group's style.
func UseRenderer(r Renderer) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(rendererKey, r)
			return next(c)
		}
	}
}

// ErrorBody is the native API's error object: {"error": {"code", "message"}}.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ErrorHandler is the server's echo.HTTPErrorHandler: every error any handler returns ends here.
func ErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, code := Status(err)
		switch {
		case status == http.StatusServiceUnavailable:
			// Starting or stopping: the client is told to come back, nothing is broken.
			logger.Warn("request refused", "method", c.Request().Method, "path", c.Path(), "err", err)
		case status >= 500:
			logger.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
		msg := Message(err, status)
		var limited *auth.RateLimitError
		if errors.As(err, &limited) {
			c.Response().Header().Set("Retry-After", strconv.Itoa(limited.RetryAfterSeconds()))
		}
		if r, ok := c.Get(rendererKey).(Renderer); ok {
			if rerr := r(c, err, status, code, msg); rerr == nil {
				return
			}
		}
		var body ErrorBody
		body.Error.Code, body.Error.Message = code, msg
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, body)
	}
}

// Bind decodes a JSON body into v strictly: malformed JSON and unknown fields are refused with
// messages that say where.
func Bind(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return Decode(body, v)
}

// presizeLimit is the most readBody allocates before the body's bytes arrive: a client may claim
// any Content-Length, and 32 KiB for each of the 256 connections one client address may hold
// (node.DefaultMaxConnsPerAddr) is 8 MiB. A publish of 20 events is about 20 KB.
const presizeLimit = 32 << 10

// readBody reads the request body, into a buffer of its declared length (up to presizeLimit) to
// begin with: growing io.ReadAll's buffer from 512 bytes was 7% of the bytes the server allocated
// in the load generator's 64 x 1 run. Past that, the buffer grows as the bytes arrive.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength <= 0 {
		return io.ReadAll(r.Body) // a *http.MaxBytesError when over the limit
	}
	// One byte more than declared: the read that meets the end finds room, not a full buffer
	// to grow.
	buf := make([]byte, 0, min(r.ContentLength+1, presizeLimit))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// Decode is Bind for bytes already read.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: the request body is empty", ErrBadJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		var when *time.ParseError
		switch {
		case errors.As(err, &syntax):
			return fmt.Errorf("%w at offset %d: %v", ErrBadJSON, syntax.Offset, syntax)
		case errors.As(err, &typ):
			return &engine.ValidationError{Field: typ.Field, Message: fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type), jsonValueWord(typ.Value))}
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &engine.ValidationError{Field: field, Message: "is not a known field"}
		case errors.As(err, &when):
			return &engine.ValidationError{Message: "a time is not in RFC 3339: write it such as 2026-01-02T15:04:05Z"}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: the body ends before the JSON does", ErrBadJSON)
		}
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: unexpected data after the JSON value", ErrBadJSON)
	}
	return nil
}

// jsonKind names what a Go type reads from JSON in JSON's own words: a client never sees the
// server's type names (int64, engine.Duration, map[string]string).
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number, not negative"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}

// jsonValueWord is encoding/json's description of the value it found ("string", "number 1.5",
// "array"), already in JSON's words, with its article.
func jsonValueWord(v string) string {
	switch {
	case v == "":
		return "this value"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		return "a " + v
	case v == "array", v == "object":
		return "an " + v
	}
	return "a " + v
}

const principalKey = "switchyard.principal"

// Principal returns who is calling, as the authentication middleware found.
func Principal(c echo.Context) *engine.Principal {
	p, _ := c.Get(principalKey).(*engine.Principal)
	return p
}

// SetPrincipal records who is calling, for middleware that authenticates in a style's own way.
func SetPrincipal(c echo.Context, p *engine.Principal) { c.Set(principalKey, p) }

// BearerOrAPIKey returns the credential a request presents as "Authorization: Bearer X" or
// "x-api-key: X".
func BearerOrAPIKey(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if scheme, token, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(token)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// Routed is a vendor style with routes of its own: its compatible API under /compat/<style> and
// any public endpoints under /hooks/<style>. The node calls Routes once, before serving.
type Routed interface {
	engine.Style
	Routes(e *echo.Echo)
}

// Authenticate is middleware that resolves the request's bearer token or API key.
func Authenticate(authn engine.Authenticator) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := authn.Token(c.Request().Context(), BearerOrAPIKey(c.Request()))
			if err != nil {
				return err
			}
			SetPrincipal(c, p)
			return next(c)
		}
	}
}

// RequireAdmin is middleware that lets only the operator through.
func RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := Principal(c); p == nil || !p.Admin {
			return fmt.Errorf("this needs the admin token: %w", engine.ErrForbidden)
		}
		return next(c)
	}
}

// RequireApp is middleware that lets through an app's credential or the operator.
func RequireApp(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := Principal(c); p == nil || (!p.Admin && p.App == nil) {
			return fmt.Errorf("this needs an app's credential: %w", engine.ErrForbidden)
		}
		return next(c)
	}
}
