package host_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/upsales/host"
)

func TestParseCallback(t *testing.T) {
	t.Parallel()
	cb, err := host.ParseCallback([]byte(`{"appData": {"externalId": "abc123"}, "userAppData": {"externalId": "user1"},
		"status": 1.5, "message": "A message for the log", "notify": "Hello from my app", "notifyUserIds": [12, "u-9"],
		"notifyAll": false, "somethingElse": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	if cb.Status != 1.5 || *cb.Message != "A message for the log" || string(cb.AppData) != `{"externalId": "abc123"}` ||
		string(cb.UserAppData) != `{"externalId": "user1"}` || cb.Notify != "Hello from my app" || fmt.Sprint(cb.NotifyUserIDs) != "[12 u-9]" || cb.NotifyAll {
		t.Errorf("parsed %+v", cb)
	}
	// Every property is optional; status defaults to 1; null is absent.
	cb, err = host.ParseCallback([]byte(` {"notify": "Hello!", "message": null, "appData": null} `))
	if err != nil || cb.Status != 1 || cb.Message != nil || cb.AppData != nil || cb.Notify != "Hello!" {
		t.Errorf("minimal: %+v %v", cb, err)
	}

	for _, c := range []struct {
		body  string
		want  error
		field string
	}{
		{``, web.ErrBadJSON, ""},
		{`{"notify": "x"`, web.ErrBadJSON, ""},
		{`{"notify": "x"} {}`, web.ErrBadJSON, ""},
		{`"Hello!"`, engine.ErrInvalid, ""},
		{`{"status": "1"}`, engine.ErrInvalid, "status"},
		{`{"message": 7}`, engine.ErrInvalid, "message"},
		{`{"appData": "x"}`, engine.ErrInvalid, "appData"},
		{`{"userAppData": []}`, engine.ErrInvalid, "userAppData"},
		{`{"notify": {"text": "x"}}`, engine.ErrInvalid, "notify"},
		{`{"notifyUserIds": 7}`, engine.ErrInvalid, "notifyUserIds"},
		{`{"notifyUserIds": [""]}`, engine.ErrInvalid, "notifyUserIds"},
		{`{"notifyAll": "yes"}`, engine.ErrInvalid, "notifyAll"},
		{`{"message": "` + strings.Repeat("x", 100<<10) + `"}`, engine.ErrTooLarge, ""},
	} {
		_, err := host.ParseCallback([]byte(c.body))
		var ve *engine.ValidationError
		if !errors.Is(err, c.want) || (c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field)) {
			body := c.body
			if len(body) > 40 {
				body = body[:40] + "..."
			}
			t.Errorf("%s: %v, want %v on %q", body, err, c.want, c.field)
		}
	}
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	cfg, err := host.ReadConfig(map[string]string{"other.thing": "x"})
	if err != nil || cfg.CallbackTTL != 7*24*time.Hour || cfg.WidgetTimeout != 10*time.Second || cfg.NotificationRetention != 365*24*time.Hour {
		t.Errorf("defaults %+v %v", cfg, err)
	}
	cfg, err = host.ReadConfig(map[string]string{"upsales.callback_ttl": "2h", "upsales.widget_timeout": "3s"})
	if err != nil || cfg.CallbackTTL != 2*time.Hour || cfg.WidgetTimeout != 3*time.Second {
		t.Errorf("set %+v %v", cfg, err)
	}
	for _, bad := range []map[string]string{
		{"upsales.callback_ttl": "soon"},
		{"upsales.callback_ttl": "1s"},
		{"upsales.notification_retention": "24h"},
		{"upsales.callback_tll": "1h"},
	} {
		if _, err := host.ReadConfig(bad); err == nil {
			t.Errorf("ReadConfig(%v) accepted it", bad)
		}
	}
}
