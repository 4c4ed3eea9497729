package api

import (
	"github.com/switchyard/switchyard/api/compat"
	"github.com/switchyard/switchyard/api/compat/altoviz"
	"github.com/switchyard/switchyard/api/compat/ivvy"
	"github.com/switchyard/switchyard/api/compat/quicklysign"
	"github.com/switchyard/switchyard/api/compat/salesking"
	"github.com/switchyard/switchyard/api/compat/upsales"
)

// styles are the vendor-compatible APIs the node installs, in order.
var styles = []compat.Style{
	altoviz.Register,
	ivvy.Register,
	quicklysign.Register,
	salesking.Register,
	upsales.Register,
}
