package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/api/compat/altoviz/altoviztest"
	"github.com/switchyard/switchyard/store/sqlite"
)

func TestAltovizStore(t *testing.T) {
	altoviztest.RunStore(t, func(t *testing.T) altoviztest.Store {
		s := open(t, filepath.Join(t.TempDir(), "switchyard.db"), withStyles(sqlite.Options{Synchronous: "normal"}))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
