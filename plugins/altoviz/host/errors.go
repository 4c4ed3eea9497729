package host

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
)

// fieldError is one problem with the input, in a 400's errors list.
type fieldError struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// invalidInput is every problem found with one request's input. It wraps engine.ErrInvalid, so
// web.Status classes it as invalid input.
type invalidInput []fieldError

func (e invalidInput) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Message
		if f.Field != "" {
			parts[i] = f.Field + ": " + f.Message
		}
	}
	return strings.Join(parts, "; ")
}

func (e invalidInput) Unwrap() error { return engine.ErrInvalid }

func invalid(field, message string) error { return invalidInput{{Field: field, Message: message}} }

// validationBody is Altoviz's answer to invalid input.
type validationBody struct {
	Errors  []fieldError `json:"errors"`
	Message string       `json:"message"`
}

// problem is an RFC 9457 problem-details object, as ASP.NET (which serves Altoviz's API) writes
// its errors.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

// problemTypes point at the status's definition in RFC 9110, as ASP.NET's defaults do.
var problemTypes = map[int]string{
	http.StatusBadRequest:            "https://tools.ietf.org/html/rfc9110#section-15.5.1",
	http.StatusUnauthorized:          "https://tools.ietf.org/html/rfc9110#section-15.5.2",
	http.StatusForbidden:             "https://tools.ietf.org/html/rfc9110#section-15.5.4",
	http.StatusNotFound:              "https://tools.ietf.org/html/rfc9110#section-15.5.5",
	http.StatusMethodNotAllowed:      "https://tools.ietf.org/html/rfc9110#section-15.5.6",
	http.StatusConflict:              "https://tools.ietf.org/html/rfc9110#section-15.5.10",
	http.StatusRequestEntityTooLarge: "https://tools.ietf.org/html/rfc9110#section-15.5.14",
	http.StatusUnprocessableEntity:   "https://tools.ietf.org/html/rfc9110#section-15.5.21",
	http.StatusInternalServerError:   "https://tools.ietf.org/html/rfc9110#section-15.6.1",
	http.StatusServiceUnavailable:    "https://tools.ietf.org/html/rfc9110#section-15.6.4",
}

// render writes errors in Altoviz's formats. web.Status classes the error; the one change made
// here is the status of invalid input, which the native API answers 422 and Altoviz 400: its
// clients expect a 400 with an errors list for every input they got wrong.
func render(c echo.Context, err error, status int, code, message string) error {
	if errors.Is(err, engine.ErrInvalid) || errors.Is(err, web.ErrBadJSON) {
		var fields invalidInput
		var ve *engine.ValidationError
		switch {
		case errors.As(err, &fields):
		case errors.As(err, &ve):
			fields = invalidInput{{Field: ve.Field, Message: ve.Message}}
		default:
			fields = invalidInput{{Message: message}}
		}
		return c.JSON(http.StatusBadRequest, validationBody{Errors: fields, Message: fields.Error()})
	}
	// The engine's sentinels end the messages that wrap them ("no webhook 7: not found"); the
	// status and title already say it.
	for _, sentinel := range []error{engine.ErrNotFound, engine.ErrUnauthorized, engine.ErrForbidden, engine.ErrConflict, engine.ErrUnavailable} {
		if errors.Is(err, sentinel) {
			message = strings.TrimSuffix(message, ": "+sentinel.Error())
		}
	}
	typ, ok := problemTypes[status]
	if !ok {
		typ = "about:blank"
	}
	body, err := json.Marshal(problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: message, Instance: c.Request().URL.Path})
	if err != nil {
		return err
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.Blob(status, "application/problem+json", body)
}
