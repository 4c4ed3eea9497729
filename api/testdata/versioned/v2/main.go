// Command v2 is version 2.0.0 of the versioned test plugin.
package main

import (
	"github.com/switchyard/switchyard/api/testdata/versioned"
	"github.com/switchyard/switchyard/sdk"
)

func init() { sdk.Register(versioned.New("2.0.0")) }

func main() {}
