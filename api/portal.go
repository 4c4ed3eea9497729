package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/auth"
)

// portalIssuer makes and trades portal links; *auth.Authenticator is one. An authenticator
// without it (a test's) leaves the portal routes answering 404.
type portalIssuer interface {
	NewPortalLink(ctx context.Context, app *engine.App) (auth.PortalLink, error)
	ExchangePortalLink(ctx context.Context, code string) (auth.PortalSession, error)
	RevokePortalSessions(ctx context.Context, appID string) (int64, error)
}

// The node's authenticator must keep being one, or the portal routes would answer 404 unnoticed.
var _ portalIssuer = (*auth.Authenticator)(nil)

// issuer is the server's authenticator as a portalIssuer, or the 404 the portal routes answer
// without one.
func (s *Server) issuer() (portalIssuer, error) {
	issuer, ok := s.auth.(portalIssuer)
	if !ok {
		return nil, echo.ErrNotFound
	}
	return issuer, nil
}

// portalApp is the issuer and the app named by the route's id, for the operator's portal routes.
func (s *Server) portalApp(c echo.Context) (portalIssuer, *engine.App, error) {
	issuer, err := s.issuer()
	if err != nil {
		return nil, nil, err
	}
	app, err := s.engine.GetApp(c.Request().Context(), c.Param("id"))
	if err != nil {
		return nil, nil, err
	}
	return issuer, app, nil
}

// portalLink is the answer to the operator: the link to give the integrator's browser. The code
// rides in the URL's fragment, which browsers never send to a server, so it stays out of access
// logs and Referer headers; the page trades it at once and removes it from the address bar.
type portalLink struct {
	AppID     string    `json:"app_id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) createPortalSession(c echo.Context) error {
	issuer, app, err := s.portalApp(c)
	if err != nil {
		return err
	}
	link, err := issuer.NewPortalLink(c.Request().Context(), app)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, portalLink{AppID: app.ID, URL: s.publicURL + "/console/#portal=" + link.Code, ExpiresAt: link.ExpiresAt})
}

// portalSession is what the console gets for a link: a token that acts as the app until it expires.
type portalSession struct {
	Token     string    `json:"token"`
	AppID     string    `json:"app_id"`
	AppName   string    `json:"app_name"`
	ExpiresAt time.Time `json:"expires_at"`
}

// exchangePortalLink takes no credential: the link's code is the credential, once.
func (s *Server) exchangePortalLink(c echo.Context) error {
	issuer, err := s.issuer()
	if err != nil {
		return err
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := web.Bind(c, &in); err != nil {
		return err
	}
	if in.Code == "" {
		return &engine.ValidationError{Field: "code", Message: "is required: the part of the portal link after #portal="}
	}
	sess, err := issuer.ExchangePortalLink(c.Request().Context(), in.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, portalSession{Token: sess.Token, AppID: sess.App.ID, AppName: sess.App.Name, ExpiresAt: sess.ExpiresAt})
}

// revokedPortal is the answer to ending an app's portal sessions.
type revokedPortal struct {
	AppID string `json:"app_id"`
	// Ended counts the links and sessions that ended; 0 is an answer too (there were none).
	Ended int64 `json:"ended"`
}

// revokePortalSessions ends every portal link and session of an app. They are read from the
// database on every use, so the next request with any of them, on any node, is refused.
func (s *Server) revokePortalSessions(c echo.Context) error {
	issuer, app, err := s.portalApp(c)
	if err != nil {
		return err
	}
	n, err := issuer.RevokePortalSessions(c.Request().Context(), app.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, revokedPortal{AppID: app.ID, Ended: n})
}
