package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
)

// QuicklySign answers every call in one envelope:
//
//	{"status": {"status_code": 200}, "data": {...}}
//	{"status": {"status_code": 404, "errors": [{"code": "not_found", "message": "..."}]}}
//
// An error's HTTP status is its status_code, unless the caller asked with
// always_use_http_status_code_200=true for 200 on everything (clients that cannot read the body of
// a failed request); the envelope still says what went wrong.

type envelope struct {
	Status status `json:"status"`
	Data   any    `json:"data,omitempty"`
}

type status struct {
	StatusCode int         `json:"status_code"`
	Errors     []errorItem `json:"errors,omitempty"`
}

type errorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// always200Param is the query parameter (or, in a POST, body field) that asks for HTTP 200 on
// errors too.
const always200Param = "always_use_http_status_code_200"

const always200Key = "quicklysign.always200"

func ok(c echo.Context, data any) error {
	return c.JSON(http.StatusOK, envelope{Status: status{StatusCode: http.StatusOK}, Data: data})
}

// renderError writes an error in the envelope; it is the group's web.Renderer, so every error a
// handler returns, and every status web.Status maps it to, comes out this way.
func renderError(c echo.Context, _ error, httpStatus int, code, message string) error {
	body := envelope{Status: status{StatusCode: httpStatus, Errors: []errorItem{{Code: code, Message: message}}}}
	if always200(c) {
		httpStatus = http.StatusOK
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(httpStatus)
	}
	return c.JSON(httpStatus, body)
}

func always200(c echo.Context) bool {
	if v, _ := c.Get(always200Key).(bool); v {
		return true
	}
	return truthy(c.QueryParam(always200Param))
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// flexBool reads true, "true", 1 or "1": form-minded clients send booleans as strings.
type flexBool bool

func (b *flexBool) UnmarshalJSON(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*b = flexBool(x)
	case string:
		*b = flexBool(truthy(x))
	case float64:
		*b = x == 1
	case nil:
		*b = false
	default:
		return &json.UnmarshalTypeError{Value: string(raw), Type: nil}
	}
	return nil
}

// decodeBody reads a JSON object leniently: fields it does not know are ignored, as QuicklySign's
// own API does, so integrator code that sends more than Switchyard reads keeps working. Malformed
// JSON and fields of the wrong type are still refused, saying where.
func decodeBody(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err // a *http.MaxBytesError when over the limit
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: the request body is empty; send a JSON object", web.ErrBadJSON)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return fmt.Errorf("%w at offset %d: %v", web.ErrBadJSON, syntax.Offset, syntax)
		case errors.As(err, &typ) && typ.Field != "":
			return &engine.ValidationError{Field: typ.Field, Message: fmt.Sprintf("must be %s, not %s", typeName(typ), typ.Value)}
		case errors.As(err, &typ):
			return fmt.Errorf("%w: the body must be a JSON object, not %s", web.ErrBadJSON, typ.Value)
		}
		return fmt.Errorf("%w: %v", web.ErrBadJSON, err)
	}
	return nil
}

func typeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "a boolean"
	}
	switch e.Type.Kind().String() {
	case "string":
		return "a string"
	case "ptr", "struct", "map":
		return "an object"
	}
	return e.Type.String()
}
