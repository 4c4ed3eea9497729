package api

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime/custom"
)

// PluginRoutes serves the plugins API. Anyone with a credential may see which formats exist and
// whether one is quarantined; only the operator sees their counters, and only the operator changes
// them.
func PluginRoutes(s *Server, m *custom.Manager) {
	g := s.echo.Group("/v1/plugins", web.Authenticate(s.auth))
	h := &pluginHandlers{m: m}
	g.GET("", h.list)
	g.GET("/:name", h.get)
	g.PUT("/:name", h.upload, web.RequireAdmin)
	g.DELETE("/:name", h.delete, web.RequireAdmin)
	// The body is the module itself, far larger than any JSON the API takes: it has a cap of its own.
	s.SetBodyLimit(http.MethodPut, "/v1/plugins/:name", m.Config().MaxModuleBytes)
}

type pluginHandlers struct {
	m *custom.Manager
}

// forCaller hides the counters from integrators: they are the operator's view of every tenant's
// traffic.
func forCaller(c echo.Context, info custom.Info) custom.Info {
	if p := web.Principal(c); p == nil || !p.Admin {
		info.Stats = nil
		info.File = ""
		// That a format is quarantined explains why an integrator's deliveries wait; why it is
		// may quote another tenant's event.
		if info.Quarantine != nil {
			q := *info.Quarantine
			q.LastTrap = ""
			info.Quarantine = &q
		}
	}
	return info
}

func (h *pluginHandlers) list(c echo.Context) error {
	infos := h.m.List()
	for i := range infos {
		infos[i] = forCaller(c, infos[i])
	}
	return c.JSON(http.StatusOK, map[string]any{"data": infos})
}

func (h *pluginHandlers) get(c echo.Context) error {
	info, err := h.m.Get(c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, forCaller(c, info))
}

// uploadDeadline bounds reading an upload and answering it. The server's own timeouts suit JSON
// calls; an upload reads megabytes, then compiles the module (over a second for a Go plugin, far
// more on a busy machine) and dry-runs it, and a client cut off before the answer would not know
// whether the new version serves.
const uploadDeadline = 5 * time.Minute

func (h *pluginHandlers) upload(c echo.Context) error {
	rc := http.NewResponseController(c.Response().Writer)
	_ = rc.SetReadDeadline(time.Now().Add(uploadDeadline))
	_ = rc.SetWriteDeadline(time.Now().Add(uploadDeadline))
	trusted := false
	if raw := c.QueryParam("trusted"); raw != "" {
		var err error
		if trusted, err = strconv.ParseBool(raw); err != nil {
			return &engine.ValidationError{Field: "trusted", Message: "must be true or false"}
		}
	}
	wasm, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err // a *http.MaxBytesError over the cap: 413
	}
	if len(wasm) == 0 {
		return &engine.ValidationError{Message: "the request body must be the plugin's .wasm module"}
	}
	res, err := h.m.Upload(c.Request().Context(), c.Param("name"), wasm, trusted)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Replaced != "" || res.Unchanged {
		status = http.StatusOK
	}
	return c.JSON(status, res)
}

func (h *pluginHandlers) delete(c echo.Context) error {
	if err := h.m.Delete(c.Request().Context(), c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
