// Command loops is the loopy test plugin that never returns from shape for client.loop events.
package main

import (
	"github.com/switchyard/switchyard/api/testdata/loopy"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(loopy.New("1.0.0", true)) }

func main() {}
