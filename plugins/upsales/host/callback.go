package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	plugin "github.com/switchyard/switchyard/plugins/upsales"
	"github.com/switchyard/switchyard/plugins/upsales/store"
)

// Limits on a callback object's parts, beside its 100 kb: each notifyUserIds entry is one
// notification to write.
const (
	maxNotifyUsers = 1000
	maxUserIDLen   = 128
)

// ParseCallback checks an app callback object: status (number, default 1), message (string),
// appData and userAppData (objects), notify (string), notifyUserIds (array of user IDs, numbers or
// strings), notifyAll (boolean). null counts as absent; other properties are ignored, as an app
// may send more than Upsales reads. A wrong type is a *engine.ValidationError naming the property.
func ParseCallback(raw []byte) (*store.Callback, error) {
	if len(raw) >= plugin.MaxCallbackBytes {
		return nil, fmt.Errorf("the app callback object is %d bytes; it must be less than 100 kb (%d bytes): %w", len(raw), plugin.MaxCallbackBytes, engine.ErrTooLarge)
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: the body is empty; send the app callback object as JSON", web.ErrBadJSON)
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		return nil, fmt.Errorf("%w: %v", web.ErrBadJSON, err)
	}
	if trimmed[0] != '{' {
		return nil, &engine.ValidationError{Message: "the app callback object must be a JSON object, such as {\"notify\": \"Hello!\"}"}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", web.ErrBadJSON, err)
	}
	cb := &store.Callback{Status: 1}
	for name, v := range fields {
		if string(v) == "null" {
			continue
		}
		var err error
		switch name {
		case "status":
			err = json.Unmarshal(v, &cb.Status)
			if err != nil {
				err = errors.New("must be a number")
			}
		case "message":
			var m string
			if err = json.Unmarshal(v, &m); err == nil {
				cb.Message = &m
			} else {
				err = errors.New("must be a string")
			}
		case "appData", "userAppData":
			if v[0] != '{' {
				err = errors.New("must be an object")
			} else if name == "appData" {
				cb.AppData = v
			} else {
				cb.UserAppData = v
			}
		case "notify":
			if json.Unmarshal(v, &cb.Notify) != nil {
				err = errors.New("must be a string")
			}
		case "notifyUserIds":
			cb.NotifyUserIDs, err = userIDs(v)
		case "notifyAll":
			if json.Unmarshal(v, &cb.NotifyAll) != nil {
				err = errors.New("must be true or false")
			}
		}
		if err != nil {
			return nil, &engine.ValidationError{Field: name, Message: err.Error()}
		}
	}
	return cb, nil
}

// userIDs reads notifyUserIds: Upsales' user IDs are numbers; a publisher's may be strings.
func userIDs(raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("must be an array of user IDs")
	}
	if len(items) > maxNotifyUsers {
		return nil, fmt.Errorf("at most %d users", maxNotifyUsers)
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		var id string
		var n json.Number
		switch {
		case json.Unmarshal(it, &id) == nil:
		case json.Unmarshal(it, &n) == nil:
			id = n.String()
		default:
			return nil, errors.New("must be an array of user IDs (numbers or strings)")
		}
		if id == "" || len(id) > maxUserIDLen {
			return nil, fmt.Errorf("user IDs are 1 to %d characters", maxUserIDLen)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// postCallback is the deferred app callback: the app posts its callback object to the one-time URL
// it was given. The token in the URL is the whole credential.
func (s *Style) postCallback(c echo.Context) error {
	req := c.Request()
	if req.ContentLength >= plugin.MaxCallbackBytes {
		return fmt.Errorf("the app callback object is %d bytes; it must be less than 100 kb (%d bytes): %w", req.ContentLength, plugin.MaxCallbackBytes, engine.ErrTooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, plugin.MaxCallbackBytes+1))
	if err != nil {
		return err // a *http.MaxBytesError when the server's own limit is lower
	}
	cb, err := ParseCallback(body)
	if err != nil {
		return err
	}
	target := s.callbackTarget(c.Param("token"))
	target.Callback = cb
	applied, err := s.apply(req.Context(), target)
	switch {
	case errors.Is(err, store.ErrCallbackUsed), errors.Is(err, store.ErrCallbackExpired):
		return &echo.HTTPError{Code: http.StatusGone, Message: "this callbackUrl can no longer be used: " + err.Error(), Internal: err}
	case errors.Is(err, engine.ErrNotFound):
		return fmt.Errorf("no request has this callbackUrl: %w", engine.ErrNotFound)
	case err != nil:
		return err
	}
	data := map[string]any{"log": applied.Entry, "notifications": len(applied.Notifications)}
	if len(applied.Ignored) > 0 {
		data["ignored"] = applied.Ignored
	}
	return c.JSON(http.StatusOK, map[string]any{"error": nil, "data": data})
}

// renderError writes errors of the callback endpoint the way Upsales' API does, with the error
// where an app checks for one: {"error": "<message>", "code": "<code>", "data": null}.
func renderError(c echo.Context, err error, status int, code, message string) error {
	if status == http.StatusRequestEntityTooLarge && errors.Is(err, engine.ErrTooLarge) {
		message = err.Error() // says how large, and the limit
	}
	return c.JSON(status, map[string]any{"error": message, "code": code, "data": nil})
}
