// Package api is Switchyard's HTTP surface: the native API under /v1, the public hook endpoints
// under /hooks, and the router that vendor styles add their compatible APIs to (under /compat).
// It is HTTP only: package cmd/switchyard/node assembles a server around it.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
)

// Server is the HTTP handler of one node.
type Server struct {
	echo   *echo.Echo
	engine *engine.Engine
	auth   engine.Authenticator
	logger *slog.Logger
	ready  func(context.Context) error
	// bodyLimits are the routes with a body cap of their own, by "METHOD path".
	bodyLimits map[string]int64
	publicURL  string
}

// DefaultMaxBodyBytes caps request bodies unless ServerConfig.MaxBodyBytes says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// ServerConfig configures the HTTP layer.
type ServerConfig struct {
	// MaxBodyBytes caps request bodies. Default 1 MiB.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Ready reports whether the node can serve; /readyz answers 503 while it errs.
	Ready func(context.Context) error
	// Accepting reports whether the API takes requests yet (nil: always). While it errs, every
	// request but the probes, the metrics, the OpenAPI document and the certificate is answered
	// with its error (503) and Retry-After, so that a client sent here early knows to come back.
	Accepting func() error
	// CertificatePath, when set, serves CertificatePEM: the certificate of the server signing key.
	CertificatePath string
	CertificatePEM  []byte
	// PublicURL is where browsers reach this server, for the portal links it makes.
	PublicURL string
}

// NewServer builds the handler with the native API and the hook endpoints.
func NewServer(cfg ServerConfig, eng *engine.Engine, authn engine.Authenticator) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = web.ErrorHandler(cfg.Logger)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		cfg.Logger.Error("handler panicked", "path", c.Path(), "err", err, "stack", string(stack))
		return err
	}}))
	s := &Server{echo: e, engine: eng, auth: authn, logger: cfg.Logger, ready: cfg.Ready, bodyLimits: map[string]int64{},
		publicURL: strings.TrimRight(cfg.PublicURL, "/")}
	e.Use(bodyLimit(cfg.MaxBodyBytes, s.bodyLimits))
	e.Use(accessLog(cfg.Logger))
	if cfg.Accepting != nil {
		e.Use(untilAccepting(cfg.Accepting, "/healthz", "/readyz", "/metrics", "/v1/openapi.json", cfg.CertificatePath))
	}
	s.routes()
	if cfg.CertificatePath != "" {
		certificate := cfg.CertificatePEM
		e.GET(cfg.CertificatePath, func(c echo.Context) error {
			// The path names the certificate's fingerprint, so what it serves never changes.
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			return c.Blob(http.StatusOK, "application/x-pem-file", certificate)
		})
	}
	return s
}

// Echo returns the router, for vendor-compatible route groups to register on.
func (s *Server) Echo() *echo.Echo { return s.echo }

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// SetBodyLimit gives one route (as registered: "/v1/plugins/:name") a body cap of its own in place
// of MaxBodyBytes, for bodies that are not JSON documents. Call it before serving.
func (s *Server) SetBodyLimit(method, path string, limit int64) {
	s.bodyLimits[method+" "+path] = limit
}

// bodyLimit caps request bodies with http.MaxBytesReader, whose error the error handler maps to
// 413. A declared Content-Length over the cap is refused without reading a byte, but only when
// the handler reads the body: by then the route group's middleware has run, so the error renders
// in the group's style (a vendor-compatible API's envelope), which refusing here would bypass.
// Echo runs this after routing, so c.Path() is the matched route, whose own cap may differ.
func bodyLimit(limit int64, perRoute map[string]int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			limit := limit
			if l, ok := perRoute[req.Method+" "+c.Path()]; ok {
				limit = l
			}
			if req.ContentLength > limit {
				req.Body = tooLarge{limit}
				return next(c)
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			return next(c)
		}
	}
}

// accessLog logs each request at debug level: method, path and status, never the query string
// (some vendor APIs carry tokens there), headers or bodies.
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := c.Response().Status
			if err != nil {
				status, _ = web.Status(err)
			}
			logger.Debug("request", "method", c.Request().Method, "path", logPath(c), "status", status, "took", time.Since(start))
			return err
		}
	}
}

// untilAccepting answers every request but those to the open paths with accepting's error while it
// errs.
func untilAccepting(accepting func() error, open ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if slices.Contains(open, c.Request().URL.Path) {
				return next(c)
			}
			if err := accepting(); err != nil {
				c.Response().Header().Set("Retry-After", "1")
				return err
			}
			return next(c)
		}
	}
}

// logPath is the request's path, or its route where the path carries a token (an Upsales
// callbackUrl, a confirmation URL): the token is the URL's only credential, and whoever reads
// the log could use it.
func logPath(c echo.Context) string {
	for _, name := range c.ParamNames() {
		if name == "token" {
			return c.Path()
		}
	}
	return c.Request().URL.Path
}

// tooLarge is the body of a request that declared more than the cap: every read fails at once.
type tooLarge struct{ limit int64 }

func (b tooLarge) Read([]byte) (int, error) { return 0, &http.MaxBytesError{Limit: b.limit} }
func (tooLarge) Close() error               { return nil }

func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/v1/openapi.json", serveOpenAPI)
	// Outside the authenticated group: the portal link's code is the only credential it takes.
	e.POST("/v1/portal/exchange", s.exchangePortalLink)
	consoleRoutes(e)

	hooks := e.Group("/hooks")
	hooks.GET("/subscriptions/:token/confirm", s.confirmSubscription)
	hooks.GET("/subscriptions/:token/unsubscribe", s.unsubscribe)

	v1 := e.Group("/v1", web.Authenticate(s.auth))
	admin, app := web.RequireAdmin, web.RequireApp

	v1.POST("/accounts", s.createAccount, admin)
	v1.GET("/accounts", s.listAccounts, admin)
	v1.GET("/accounts/:id", s.getAccount, admin)
	v1.POST("/accounts/:id/grants", s.createGrant, admin)
	v1.GET("/accounts/:id/grants", s.listGrants, admin)
	v1.DELETE("/accounts/:id/grants/:grant_id", s.revokeGrant, admin)
	v1.GET("/accounts/:id/users", s.listAccountUsers, admin)
	v1.PUT("/accounts/:id/users/:user_id", s.putAccountUser, admin)
	v1.GET("/accounts/:id/users/:user_id", s.getAccountUser, admin)
	v1.DELETE("/accounts/:id/users/:user_id", s.deleteAccountUser, admin)
	v1.POST("/apps", s.createApp, admin)
	v1.GET("/apps", s.listApps, admin)
	v1.GET("/apps/:id", s.getApp, admin)
	v1.POST("/apps/:id/credentials", s.createCredential, admin)
	v1.GET("/apps/:id/credentials", s.listCredentials, admin)
	v1.POST("/apps/:id/portal-sessions", s.createPortalSession, admin)
	v1.DELETE("/apps/:id/portal-sessions", s.revokePortalSessions, admin)
	v1.DELETE("/credentials/:id", s.revokeCredential, admin)

	v1.POST("/subscriptions", s.createSubscription, app)
	v1.GET("/subscriptions", s.listSubscriptions, app)
	v1.GET("/subscriptions/:id", s.getSubscription, app)
	v1.PATCH("/subscriptions/:id", s.updateSubscription, app)
	v1.DELETE("/subscriptions/:id", s.deleteSubscription, app)
	v1.POST("/subscriptions/:id/replay", s.replaySubscription, app)
	v1.POST("/subscriptions/:id/rotate-secret", s.rotateSecret, app)
	v1.POST("/subscriptions/:id/pause", s.pauseSubscription, app)
	v1.POST("/subscriptions/:id/resume", s.resumeSubscription, app)
	v1.POST("/subscriptions/:id/example", s.sendExample, app)

	v1.POST("/events", s.publish)
	v1.POST("/events/batch", s.publishBatch)
	v1.GET("/events", s.listEvents)
	v1.GET("/events/:id", s.getEvent)

	v1.GET("/deliveries", s.listDeliveries, app)
	v1.GET("/deliveries/:id", s.getDelivery, app)
	v1.POST("/deliveries/:id/retry", s.retryDelivery, app)
	v1.POST("/deliveries/retry", s.retryDeliveries, app)
	v1.POST("/deliveries/:id/skip", s.skipDelivery, app)

	// The plugins API is in plugins.go.
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
