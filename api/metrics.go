package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
)

// MetricsRoute serves h (Prometheus metrics) at /metrics on the API's own address, to the operator
// only. The figures are per format and plugin, never per tenant, but they still tell a stranger how
// busy the node is, which plugins it runs and how often receivers fail; the API's address is public
// (receivers and vendor clients reach it), so it takes the admin token, which Prometheus sends as
// a bearer token (authorization: credentials_file). A node with its own metrics address serves
// them there instead, without a token (see node.Config.MetricsAddr).
func MetricsRoute(s *Server, h http.Handler) {
	s.echo.GET("/metrics", echo.WrapHandler(h), web.Authenticate(s.auth), web.RequireAdmin)
}
