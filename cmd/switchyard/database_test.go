package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateDatabaseURL: --database sqlite://PATH puts the database at PATH, not in the data dir.
func TestMigrateDatabaseURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "elsewhere", "my.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	if _, _, err := runCLI(t, "migrate", "--data-dir", dataDir, "--database", "sqlite://"+path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no database at the path given: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "switchyard.db")); err == nil {
		t.Errorf("a database was made in the data dir too")
	}
}

// TestDatabaseURLsRefusedClearly: a PostgreSQL database that cannot be reached fails migrate with
// an error that names it but not its password; a URL of neither driver is refused with what to give.
func TestDatabaseURLsRefusedClearly(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback: nothing listens there.
	_, _, err := runCLI(t, "migrate", "--data-dir", t.TempDir(), "--database", "postgres://u:hunter2@127.0.0.1:1/sw?connect_timeout=2")
	if err == nil {
		t.Fatal("migrate on an unreachable PostgreSQL succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	_, _, err = runCLI(t, "migrate", "--data-dir", t.TempDir(), "--database", "mysql://x")
	if err == nil || !strings.Contains(err.Error(), "want sqlite://PATH or postgres://") {
		t.Errorf("a mysql:// URL: %v, want a refusal naming the accepted forms", err)
	}
}
