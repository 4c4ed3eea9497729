package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/outbound"
	plugin "github.com/switchyard/switchyard/plugins/upsales"
	"github.com/switchyard/switchyard/plugins/upsales/store"
)

// placeholderWidget is the modal without the app: Upsales' placeholder text, as a widget.
var placeholderWidget = mustJSON(widget{Type: "widget", Rows: []json.RawMessage{mustJSON(markdownRow{Type: "markdown", Markdown: Placeholder})}})

type markdownRow struct {
	Type     string `json:"type"`
	Markdown string `json:"markdown"`
}

type widget struct {
	Type string            `json:"type"`
	Rows []json.RawMessage `json:"rows"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// widget asks the app for the notification modal's widget: a POST to <the URL the request went
// to>/widget/notification whose data is the request's log entry, sent through the engine's
// outbound client (the SSRF guard applies, as to deliveries). Past the entry's 90 days, or when the
// app does not answer with a widget in time, the modal shows the placeholder.
func (s *Style) widget(ctx context.Context, n *store.Notification, now time.Time) []byte {
	entry, err := s.st.GetLogEntry(ctx, n.LogID)
	if errors.Is(err, engine.ErrNotFound) || err == nil && now.Sub(entry.CreatedAt) >= LogRetention {
		return placeholderWidget
	}
	if err != nil {
		s.logger.Error("notification modal: read the log entry", "notification", n.ID, "err", err)
		return placeholderWidget
	}
	body, err := s.widgetRequest(ctx, entry, n, now)
	if err != nil {
		s.logger.Error("notification modal: build the widget request", "notification", n.ID, "err", err)
		return placeholderWidget
	}
	resp, err := s.engine.Client().Do(ctx, &outbound.Request{
		Method: "POST", URL: strings.TrimRight(entry.BaseURL, "/") + "/widget/notification",
		Headers: []outbound.Header{{Name: "content-type", Value: "application/json"}}, Body: body,
		Timeout: s.cfg.WidgetTimeout,
	})
	if err != nil {
		s.logger.Info("notification modal: the app did not answer", "notification", n.ID, "err", err)
		return placeholderWidget
	}
	if w, ok := validWidget(resp); ok {
		return w
	}
	s.logger.Info("notification modal: the app's answer is not a widget", "notification", n.ID, "status", resp.Status)
	return placeholderWidget
}

// widgetRequest is the body of a widget request: what a trigger request carries about the app,
// customer and user, with data = the log entry.
func (s *Style) widgetRequest(ctx context.Context, entry *store.LogEntry, n *store.Notification, now time.Time) ([]byte, error) {
	app, err := s.engine.GetApp(ctx, entry.AppID)
	if err != nil {
		return nil, err
	}
	account, err := s.engine.GetAccount(ctx, entry.AccountID)
	if err != nil {
		return nil, err
	}
	appData, err := s.st.GetAppData(ctx, entry.AppID, entry.AccountID, "")
	if err != nil {
		return nil, err
	}
	if appData == nil {
		appData = json.RawMessage(`{}`)
	}
	return json.Marshal(map[string]any{
		"appId":             app.ID,
		"date":              now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"authenticationKey": app.Secret,
		"customer":          map[string]any{"id": idValue(account.ID), "name": account.Name},
		"user":              map[string]any{"id": idValue(n.UserID)},
		"appData":           appData,
		"data":              entry,
	})
}

// idValue is an ID as the plugin sends it: a number when it is a decimal number.
func idValue(id string) any {
	if plugin.IsDecimalID(id) {
		return json.Number(id)
	}
	return id
}

// validWidget returns the app's widget when the answer is one: 2xx, a JSON object of type
// "widget" with a list of rows.
func validWidget(resp *outbound.Response) ([]byte, bool) {
	if resp.Status < 200 || resp.Status > 299 || resp.Truncated {
		return nil, false
	}
	var w struct {
		Type string            `json:"type"`
		Rows []json.RawMessage `json:"rows"`
	}
	if json.Unmarshal(resp.Body, &w) != nil || w.Type != "widget" || w.Rows == nil {
		return nil, false
	}
	var out bytes.Buffer
	if json.Compact(&out, resp.Body) != nil {
		return nil, false
	}
	return out.Bytes(), true
}
