package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine/metrics"
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

// RecentFigures is the last hour of a node's own figures; *metrics.Metrics has them.
type RecentFigures interface {
	Recent(ctx context.Context) (*metrics.Recent, error)
}

// StatsRoute serves GET /v1/stats to the operator: the queue now and the last hour per minute, as
// JSON, for the console's overview, which cannot read Prometheus' text format into a chart
// without a Prometheus to keep the history. The figures are the same as /metrics', so the same
// admin token guards them.
func StatsRoute(s *Server, src RecentFigures) {
	s.echo.GET("/v1/stats", func(c echo.Context) error {
		r, err := src.Recent(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r)
	}, web.Authenticate(s.auth), web.RequireAdmin)
}
