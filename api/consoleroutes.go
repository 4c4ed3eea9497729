package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/console"
)

// consoleRoutes serves the browser console at /console/. Its files are public (the data they show
// comes through /v1 with the token the user signs in with); the headers keep the page to this
// server's own scripts and send no Referer, so nothing of a page's address leaves it. Any site may
// frame it: platforms embed portal sessions in their own pages.
func consoleRoutes(e *echo.Echo) {
	files := http.StripPrefix("/console/", http.FileServerFS(console.Files()))
	e.GET("/console", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, "/console/")
	})
	e.GET("/console/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		// The files change with the binary; a browser asks again rather than run an old console
		// against a new server.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
}
