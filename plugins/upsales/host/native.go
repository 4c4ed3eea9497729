package host

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/upsales/store"
)

// What callbacks leave, in the native API. An app's credential sees the app's own log entries and
// notifications (a credential an account granted, that account's only); the operator sees every
// app's and may filter by app_id. Another app's entry is not found, as everywhere in the API.

// scope narrows a query to what the caller may see: an app its own, an account-bound credential
// its account's.
func scope(p *engine.Principal, appID, accountID string) (string, string, error) {
	if p.Admin {
		return appID, accountID, nil
	}
	if appID != "" && appID != p.App.ID {
		return "", "", &engine.ValidationError{Field: "app_id", Message: "an app sees its own; leave app_id out"}
	}
	if bound := p.Credential.AccountID; bound != "" {
		if accountID != "" && accountID != bound {
			return "", "", fmt.Errorf("this credential was granted by account %s only: %w", bound, engine.ErrForbidden)
		}
		accountID = bound
	}
	return p.App.ID, accountID, nil
}

// maySee reports whether the caller may see something of appID in accountID.
func maySee(p *engine.Principal, appID, accountID string) bool {
	if p.Admin {
		return true
	}
	return p.App.ID == appID && (p.Credential.AccountID == "" || p.Credential.AccountID == accountID)
}

func (s *Style) listLogs(c echo.Context) error {
	limit, err := web.Limit(c)
	if err != nil {
		return err
	}
	appID, accountID, err := scope(web.Principal(c), c.QueryParam("app_id"), c.QueryParam("account_id"))
	if err != nil {
		return err
	}
	items, err := s.st.ListLogEntries(c.Request().Context(), store.LogFilter{AppID: appID, AccountID: accountID, Before: c.QueryParam("before"), Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, web.NewList(items, limit, func(e *store.LogEntry) string { return e.ID }))
}

func (s *Style) getLog(c echo.Context) error {
	e, err := s.st.GetLogEntry(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if !maySee(web.Principal(c), e.AppID, e.AccountID) {
		return fmt.Errorf("log entry %q: %w", e.ID, engine.ErrNotFound)
	}
	return c.JSON(http.StatusOK, e)
}

func (s *Style) listNotifications(c echo.Context) error {
	limit, err := web.Limit(c)
	if err != nil {
		return err
	}
	appID, accountID, err := scope(web.Principal(c), c.QueryParam("app_id"), c.QueryParam("account_id"))
	if err != nil {
		return err
	}
	items, err := s.st.ListNotifications(c.Request().Context(), store.NotificationFilter{
		AppID: appID, AccountID: accountID, UserID: c.QueryParam("user_id"), Before: c.QueryParam("before"), Limit: limit,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, web.NewList(items, limit, func(n *store.Notification) string { return n.ID }))
}

// openNotification is the notification modal: the widget the app answers for the notification's
// log entry, within 90 days of its request; the placeholder otherwise.
func (s *Style) openNotification(c echo.Context) error {
	ctx := c.Request().Context()
	n, err := s.st.GetNotification(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if !maySee(web.Principal(c), n.AppID, n.AccountID) {
		return fmt.Errorf("notification %q: %w", n.ID, engine.ErrNotFound)
	}
	now := s.clock.Now()
	if err := s.st.MarkNotificationOpened(ctx, n.ID, now); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, s.widget(ctx, n, now))
}
