package web

import (
	"fmt"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
)

// The page sizes every list of the native API accepts, whoever registers the route, so that a
// client pages through a style's lists as it does through the engine's.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// List is the shape of every native list response: a page of items and the cursor of the next page.
type List[T any] struct {
	Data []T `json:"data"`
	// Next is the cursor for the following page (after= or before=), empty on the last page.
	Next string `json:"next,omitempty"`
}

// NewList is a page of items read with limit; id gives an item's cursor. A full page has a next
// cursor, its last item's: the client asks again from there and gets an empty page at the end.
func NewList[T any](items []T, limit int, id func(T) string) List[T] {
	l := List[T]{Data: items}
	if l.Data == nil {
		l.Data = []T{}
	}
	if limit > 0 && len(items) == limit {
		l.Next = id(items[len(items)-1])
	}
	return l
}

// Page reads ?after=&limit= for lists ordered by ID.
func Page(c echo.Context) (engine.Page, error) {
	limit, err := Limit(c)
	return engine.Page{After: c.QueryParam("after"), Limit: limit}, err
}

// Limit reads ?limit=: DefaultLimit when absent, and refused outside 1 to MaxLimit.
func Limit(c echo.Context) (int, error) {
	raw := c.QueryParam("limit")
	if raw == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, &engine.ValidationError{Field: "limit", Message: fmt.Sprintf("must be a number from 1 to %d", MaxLimit)}
	}
	return n, nil
}
