package host

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
)

// orderedJSON is a JSON object that keeps its keys in the order they were added, as iVvy's answers
// list every endpoint in a fixed order.
type orderedJSON struct {
	keys   []string
	values []any
}

func (o *orderedJSON) add(k string, v any) { o.keys, o.values = append(o.keys, k), append(o.values, v) }

func (o *orderedJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.values[i])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Specific codes iVvy gives errors (developer.ivvy.com, "Interpreting the response: Exceptions").
const (
	specificStale    = 23005
	specificInvalid  = 23016
	specificRequired = 23017
)

// ErrorBody is iVvy's error object.
type ErrorBody struct {
	ErrorCode          int      `json:"errorCode"`
	Message            string   `json:"message"`
	SpecificCode       int      `json:"specificCode"`
	AdditionalMessages []string `json:"additionalMessages,omitempty"`
}

// apiError is an exception iVvy's API documents: its message, specific code and additional
// messages. cause is the engine's error it stands for, if any, so the status mapping still sees an
// authentication failure as one.
type apiError struct {
	message    string
	specific   int
	additional []string
	cause      error
}

func (e *apiError) Error() string {
	if len(e.additional) == 0 {
		return e.message
	}
	return e.message + ": " + strings.Join(e.additional, "; ")
}

func (e *apiError) Unwrap() error { return e.cause }

// withStatus gives an apiError the HTTP status iVvy answers it with (web.Status reads it from the
// echo.HTTPError); iVvy's errorCode is the same number.
func withStatus(status int, e *apiError) error {
	return &echo.HTTPError{Code: status, Message: e.message, Internal: e}
}

// errStale is iVvy's answer to a request signed more than maxRequestAge from the server's clock.
var errStale = withStatus(http.StatusUnauthorized, &apiError{
	message: "Request is stale", specific: specificStale, cause: engine.ErrUnauthorized,
	additional: []string{"the Date or IVVY-Date header is more than " + maxRequestAge.String() + " from the server's clock (UTC)"},
})

// iVvyParameterErrors answers a parameter that does not validate, or is missing, as iVvy does:
// 400 with specific code 23016 or 23017 and the validator's message as an additional message.
// Elsewhere the engine's validation errors are 422, which iVvy never answers.
func iVvyParameterErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		var ve *engine.ValidationError
		switch {
		case err == nil || !errors.Is(err, engine.ErrInvalid):
			return err
		case errors.As(err, &ve) && ve.Field != "" && strings.HasPrefix(ve.Message, "is required"):
			return withStatus(http.StatusBadRequest, &apiError{message: "'" + ve.Field + "' is required", specific: specificRequired, additional: []string{ve.Message}})
		case errors.As(err, &ve) && ve.Field != "":
			return withStatus(http.StatusBadRequest, &apiError{message: "'" + ve.Field + "' does not validate", specific: specificInvalid, additional: []string{ve.Message}})
		}
		return withStatus(http.StatusBadRequest, &apiError{message: err.Error(), specific: specificInvalid})
	}
}

// renderError writes errors of the iVvy API as iVvy does: {"errorCode", "message",
// "specificCode", "additionalMessages"}.
func renderError(c echo.Context, err error, status int, code, message string) error {
	body := ErrorBody{ErrorCode: status, Message: message}
	var ae *apiError
	var ve *engine.ValidationError
	switch {
	case status == http.StatusInternalServerError:
	case errors.As(err, &ae):
		body.Message, body.SpecificCode, body.AdditionalMessages = ae.message, ae.specific, ae.additional
	case errors.As(err, &ve) && ve.Field != "":
		body.Message, body.SpecificCode = "'"+ve.Field+"' does not validate", specificInvalid
		if strings.HasPrefix(ve.Message, "is required") {
			body.Message, body.SpecificCode = "'"+ve.Field+"' is required", specificRequired
		}
		body.AdditionalMessages = []string{ve.Message}
	}
	return c.JSON(status, body)
}

// snsNamespace is the XML namespace of SNS's API answers.
const snsNamespace = "http://sns.amazonaws.com/doc/2010-03-31/"

type snsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// renderSNSError writes errors of the SNS endpoints as SNS's query API does: an XML ErrorResponse.
func renderSNSError(c echo.Context, err error, status int, code, message string) error {
	var body snsErrorResponse
	body.Xmlns = snsNamespace
	body.Error.Type = "Sender"
	if status >= 500 {
		body.Error.Type = "Receiver"
	}
	body.Error.Code = snsErrorCode(status)
	body.Error.Message = message
	body.RequestID = requestID()
	return writeXML(c, status, body)
}

func snsErrorCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "NotFound"
	case http.StatusConflict:
		return "InvalidParameter"
	case http.StatusForbidden, http.StatusUnauthorized:
		return "AuthorizationError"
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "InvalidParameter"
	}
	return "InternalError"
}

func writeXML(c echo.Context, status int, v any) error {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return c.Blob(status, "text/xml", append([]byte(xml.Header), b...))
}
