package main

import (
	"testing"

	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestMain fails the package's tests if any goroutine outlives them (every service started in a
// test must be stopped by it), and stops the throwaway PostgreSQL cluster the tests of many nodes
// start on first use.
func TestMain(m *testing.M) { pgtest.Main(m) }
