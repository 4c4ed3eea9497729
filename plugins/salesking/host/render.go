package host

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
)

// fieldError is one [attribute, message] pair of an error body; "base" names no attribute.
type fieldError struct {
	Field, Message string
}

func (e fieldError) MarshalJSON() ([]byte, error) { return json.Marshal([2]string{e.Field, e.Message}) }

// fieldErrors are what is wrong with a request's input, every problem at once, as Rails reports
// validation errors.
type fieldErrors []fieldError

func (fe fieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, e := range fe {
		parts[i] = e.Field + " " + e.Message
		if e.Field == "base" {
			parts[i] = e.Message
		}
	}
	return strings.Join(parts, "; ")
}

// badRequest answers a request that cannot be read (malformed JSON, a body type this API does not
// take, a bad query) with 400, which the one error mapping (web.Status) reads from the
// echo.HTTPError; the renderer finds the fields inside it. ActiveResource raises BadRequest on a
// 400, as it should for a request its own client would never send.
func badRequest(fe ...fieldError) error {
	return &echo.HTTPError{Code: http.StatusBadRequest, Message: fieldErrors(fe).Error(), Internal: fieldErrors(fe)}
}

// invalid answers a readable sub whose fields are wrong with 422: ActiveResource's save rescues
// ResourceInvalid, raised on a 422 only, loads the body's errors into the model and returns false;
// on any other status save raises, and the app's `unless sub.save` never sees sub.errors.
func invalid(fe ...fieldError) error {
	return &echo.HTTPError{Code: http.StatusUnprocessableEntity, Message: fieldErrors(fe).Error(), Internal: fieldErrors(fe)}
}

// fieldNames maps the engine's field names to this API's.
var fieldNames = map[string]string{"url": "callback_url", "events": "channel"}

// inputError turns the engine's refusal of input into this API's 422; other errors pass as they are.
func inputError(err error) error {
	var ve *engine.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	field := ve.Field
	if f, ok := fieldNames[field]; ok {
		field = f
	}
	if field == "" {
		field = "base"
	}
	return invalid(fieldError{field, ve.Message})
}

// errorBody is SalesKing's error shape here: {"errors": [["field", "message"], ...]}.
type errorBody struct {
	Errors fieldErrors `json:"errors"`
}

// render writes every error of the /api group in that shape, with the status web.Status chose.
func render(c echo.Context, err error, status int, _, message string) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	var fe fieldErrors
	var ve *engine.ValidationError
	switch {
	case status == http.StatusInternalServerError:
		fe = fieldErrors{{"base", message}}
	case errors.As(err, &fe):
	case errors.As(err, &ve) && ve.Field != "":
		fe = fieldErrors{{ve.Field, ve.Message}}
	default:
		fe = fieldErrors{{"base", message}}
	}
	return c.JSON(status, errorBody{Errors: fe})
}
