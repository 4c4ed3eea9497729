package main

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestHelpOnEveryCommand: -h on every command prints its usage to stdout and succeeds; serve's and
// migrate's name every flag's SWITCHYARD_* variable with its default.
func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-h"}, {"help"}, {"serve", "-h"}, {"serve", "--help"}, {"migrate", "-h"},
		{"plugin", "-h"}, {"plugin", "new", "-h"}, {"plugin", "build", "-h"}, {"plugin", "test", "-h"},
	} {
		stdout, _, err := runCLI(t, args...)
		if err != nil {
			t.Errorf("%v: %v, want success", args, err)
		}
		if !strings.Contains(stdout, "Usage") {
			t.Errorf("%v printed no usage on stdout:\n%s", args, stdout)
		}
	}
	stdout, _, _ := runCLI(t, "serve", "-h")
	for _, want := range []string{"SWITCHYARD_ADDR, default 127.0.0.1:8080", "SWITCHYARD_DATA_DIR, default data",
		"SWITCHYARD_ALLOW_PRIVATE, default none", "SWITCHYARD_RATE_LIMIT, default 1000", "SWITCHYARD_PLUGIN_START_TIMEOUT, default 10s"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("serve -h does not say %q:\n%s", want, stdout)
		}
	}
	// Every flag serve has is listed with its variable.
	flags := regexp.MustCompile(`(?m)^  --([a-z-]+)  \(SWITCHYARD_([A-Z_]+), default `).FindAllStringSubmatch(stdout, -1)
	if len(flags) < 20 {
		t.Errorf("serve -h lists %d flags with their variables:\n%s", len(flags), stdout)
	}
	for _, f := range flags {
		if envName(f[1]) != "SWITCHYARD_"+f[2] {
			t.Errorf("flag --%s is listed with SWITCHYARD_%s", f[1], f[2])
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		stdout, _, err := runCLI(t, arg)
		if err != nil || !regexp.MustCompile(`^switchyard \S+ \(commit \S+, go1\.\d+`).MatchString(stdout) {
			t.Errorf("%s: %q, %v", arg, stdout, err)
		}
	}
}

// TestMigrateMakesEveryComponentsTables: migrate brings up the core's tables and every style's.
func TestMigrateMakesEveryComponentsTables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, _, err := runCLI(t, "migrate", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "switchyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]bool{}
	rows, err := db.Query(`SELECT DISTINCT component FROM schema_versions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		_ = rows.Scan(&c)
		got[c] = true
	}
	rows.Close()
	for _, c := range []string{"core", "altoviz", "quicklysign", "salesking", "upsales"} {
		if !got[c] {
			t.Errorf("migrate did not apply the %s line: %v", c, got)
		}
	}
}
