package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestStartWithDurable checks that settings given to StartWith win over the tests' own (loadgen
// relies on it to measure a cluster that syncs its commits), and that PID names the live server.
func TestStartWithDurable(t *testing.T) {
	c, err := StartWith(Durable...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, kv := range Durable {
		name, want, _ := strings.Cut(kv, "=")
		var got string
		if err := db.QueryRowContext(context.Background(), "SHOW "+name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	pid, err := c.PID()
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("the server's process %d: %v", pid, err)
	}
	if !strings.Contains(string(cmdline), "postgres") {
		t.Errorf("process %d is %q, not the PostgreSQL server", pid, cmdline)
	}
}
