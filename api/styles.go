package api

import (
	"github.com/switchyard/switchyard/api/compat"
	"github.com/switchyard/switchyard/api/compat/ivvy"
)

// styles are the vendor-compatible APIs the node installs, in order.
var styles = []compat.Style{ivvy.Register}
