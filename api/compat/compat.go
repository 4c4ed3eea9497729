// Package compat is where vendor-compatible APIs plug in. Each vendor style lives in its own
// package (api/compat/altoviz, ...) and exports a Register function of type Style, listed in
// api/styles.go; the node calls each one once, after building the native API and before serving.
//
// A style that keeps data of its own declares the store interface it needs in its package, and
// the SQLite store implements it in a file of its own (store/sqlite/<style>.go) with its own
// migration; the style gets it by asserting Deps.Store to its interface, so the engine's Store
// interface stays the engine's.
package compat

import (
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
)

// Deps is what a style may use.
type Deps struct {
	Engine *engine.Engine
	// Store is the engine's store; assert it to the style's own store interface.
	Store engine.Store
	// Echo is the node's router: styles add their route groups (under /compat/<style>) to it.
	Echo   *echo.Echo
	Logger *slog.Logger
	// PublicURL is where receivers reach this node.
	PublicURL string
	// DataDir is the node's data folder, for files a style keeps (keys, say).
	DataDir string
	// Settings are the operator's settings for styles, by "<style>.<setting>"; a style reads its
	// own with Setting and refuses values it cannot use.
	Settings map[string]string
}

// Setting returns the operator's value for one of a style's settings, or "" when unset.
func (d Deps) Setting(style, name string) string { return d.Settings[style+"."+name] }

// Style installs one vendor style: routes, engine style hooks, scheduler jobs.
type Style func(Deps) error
