package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestReadBody checks a body is read whole whatever its Content-Length says, into a buffer of
// that length when it is honest, and that the body limit still stops it.
func TestReadBody(t *testing.T) {
	t.Parallel()
	e := echo.New()
	body := strings.Repeat("x", 3000)
	read := func(declared int64, limit int64) ([]byte, error) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.ContentLength = declared
		rec := httptest.NewRecorder()
		if limit > 0 {
			r.Body = http.MaxBytesReader(rec, r.Body, limit)
		}
		return readBody(e.NewContext(r, rec))
	}
	for _, declared := range []int64{-1, 0, 3000, 10, 1 << 30} {
		got, err := read(declared, 0)
		if err != nil || string(got) != body {
			t.Errorf("Content-Length %d: read %d bytes, %v; want the %d bytes", declared, len(got), err, len(body))
		}
		if declared == int64(len(body)) && cap(got) != len(body)+1 {
			t.Errorf("Content-Length %d: buffer of %d bytes; want one of the declared length and a byte", declared, cap(got))
		}
		if declared == 1<<30 && cap(got) != presizeLimit {
			t.Errorf("Content-Length of a GiB, 3,000 bytes sent: buffer of %d bytes; want %d, no more before the bytes arrive", cap(got), presizeLimit)
		}
	}
	large := strings.Repeat("y", 3*presizeLimit+7)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(large))
	if got, err := readBody(e.NewContext(r, httptest.NewRecorder())); err != nil || string(got) != large {
		t.Errorf("a body of %d bytes past the first buffer: read %d bytes, %v", len(large), len(got), err)
	}
	for _, declared := range []int64{-1, 3000, 10} {
		var tooLarge *http.MaxBytesError
		if _, err := read(declared, 1000); !errors.As(err, &tooLarge) {
			t.Errorf("Content-Length %d over a 1000-byte limit: %v; want a *http.MaxBytesError", declared, err)
		}
	}
}
