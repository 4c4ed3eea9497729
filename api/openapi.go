package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPIDocument is the OpenAPI 3.1 document of the native API, written by hand. Tests keep it
// true: TestOpenAPICoverage compares it with the routes the server registers, and nodetest's
// client validates every /v1 call of the end-to-end tests against it. A route added to the native
// API goes in it too, or TestOpenAPICoverage names the route.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// serveOpenAPI answers without a credential: the document describes the API, not anyone's data,
// and a client generator must be able to read it before it holds a token.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPIDocument)
}
