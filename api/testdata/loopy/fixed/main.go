// Command fixed is the loopy test plugin with its loop fixed: it shapes every event.
package main

import (
	"github.com/switchyard/switchyard/api/testdata/loopy"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(loopy.New("2.0.0", false)) }

func main() {}
