package web_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
)

func TestLimitAndPage(t *testing.T) {
	t.Parallel()
	e := echo.New()
	ctx := func(query string) echo.Context {
		return e.NewContext(httptest.NewRequest("GET", "/v1/things?"+query, nil), httptest.NewRecorder())
	}
	for _, c := range []struct {
		query string
		want  int
	}{{"", 50}, {"limit=", 50}, {"limit=1", 1}, {"limit=200", 200}} {
		if n, err := web.Limit(ctx(c.query)); err != nil || n != c.want {
			t.Errorf("%q: %d, %v; want %d", c.query, n, err, c.want)
		}
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=-1", "limit=ten"} {
		var ve *engine.ValidationError
		if _, err := web.Limit(ctx(q)); !errors.As(err, &ve) || ve.Field != "limit" {
			t.Errorf("%q: %v, want a validation error on limit", q, err)
		}
	}
	p, err := web.Page(ctx("after=acc_9&limit=3"))
	if err != nil || p.After != "acc_9" || p.Limit != 3 {
		t.Errorf("page %+v, %v", p, err)
	}
}

func TestNewList(t *testing.T) {
	t.Parallel()
	id := func(s string) string { return s }
	for _, c := range []struct {
		items []string
		limit int
		want  string
	}{
		{nil, 2, `{"data":[]}`},
		{[]string{"b"}, 2, `{"data":["b"]}`},
		// A full page points at its last item; the client learns of the end from an empty page.
		{[]string{"c", "b"}, 2, `{"data":["c","b"],"next":"b"}`},
	} {
		got, err := json.Marshal(web.NewList(c.items, c.limit, id))
		if err != nil || string(got) != c.want {
			t.Errorf("NewList(%v, %d) = %s, %v; want %s", c.items, c.limit, got, err, c.want)
		}
	}
}
