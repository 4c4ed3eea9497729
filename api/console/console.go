// Package console holds the browser console's files, embedded in the binary so that the console
// works offline and is always the version of the server it talks to. It is plain HTML, CSS and
// JavaScript modules with no build step: nothing to install, nothing to fall out of date.
package console

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Files are the console's files, index.html at the root.
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the folder is embedded above; only a broken build misses it
	}
	return sub
}
