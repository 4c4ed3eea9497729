package api

import "github.com/switchyard/switchyard/api/compat"

// styles are the vendor-compatible APIs the node installs, in order.
var styles = []compat.Style{}
