// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb in a temporary folder, a
// server listening on a unix socket in that folder only (no TCP port, so parallel test binaries
// never clash), one fresh database per test, and the whole cluster removed at the end.
//
// A test binary starts one cluster in TestMain (Main) and each test asks it for a database
// (NewDatabase). PostgreSQL refuses to run as root; as root, initdb and the server run as the
// "postgres" user that Debian's package creates, in a folder that user owns. The tests fail, never
// skip, when PostgreSQL is missing: the message says which package to install.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"go.uber.org/goleak"
)

// Install is what to do when PostgreSQL's programs are missing.
const Install = "install PostgreSQL's server programs: apt-get install postgresql (Debian's package; .ci/run does it)"

// A Cluster is one running PostgreSQL server and its data folder.
type Cluster struct {
	dir     string // owned by the server's user: data/ and the socket
	bin     string // the folder of initdb and pg_ctl
	cred    *syscall.Credential
	admin   *sql.DB
	counter atomic.Int64
}

// FindBin returns the folder holding initdb and pg_ctl: from PATH, else the newest
// /usr/lib/postgresql/N/bin (Debian keeps them off PATH).
func FindBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb and pg_ctl not found on PATH nor in /usr/lib/postgresql/*/bin: %s", Install)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start runs initdb in a new temporary folder and starts the server on a unix socket there, tuned
// for tests: no fsync, nothing durable.
func Start() (*Cluster, error) { return StartWith() }

// Durable are the settings that make a cluster keep what it acknowledged, as a production one does:
// a benchmark on a cluster without them measures a database nobody runs.
var Durable = []string{"fsync=on", "synchronous_commit=on", "full_page_writes=on", "shared_buffers=128MB"}

// StartWith is Start with further server settings (NAME=VALUE, as postgres -c takes them), given
// after the tests' own so that they win: StartWith(Durable...) for a benchmark.
func StartWith(settings ...string) (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, PostgreSQL needs another user to run as, and there is no user postgres (%w): %s", err, Install)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	// Trust on the socket alone: the folder is the server user's, and nothing listens on TCP.
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
		"--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// Durability is worthless for a cluster thrown away: no fsync makes CREATE DATABASE and every
	// commit cheap.
	opts := strings.Join([]string{
		"-c listen_addresses=''", "-c unix_socket_directories=" + dir, "-c fsync=off",
		"-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=300",
		"-c shared_buffers=32MB",
	}, " ")
	for _, kv := range settings {
		opts += " -c " + kv
	}
	if out, err := c.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	c.admin, err = sql.Open("pgx", c.URL("postgres"))
	if err == nil {
		err = c.admin.Ping()
	}
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("connect to the test cluster: %w", err)
	}
	return c, nil
}

// run runs one of PostgreSQL's programs, as the postgres user when this process is root.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Env = append(cmd.Env, "HOME="+c.dir, "USER=postgres", "LOGNAME=postgres")
	}
	return cmd.CombinedOutput()
}

// PID is the server's process id (the postmaster, parent of every other process of the cluster),
// from the first line of its postmaster.pid.
func (c *Cluster) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// URL is the connection URL of database name on the cluster.
func (c *Cluster) URL(name string) string {
	return "postgres://postgres@/" + name + "?host=" + c.dir + "&sslmode=disable"
}

// CreateDatabase creates a new, empty database and returns its URL. It costs about 200 ms (it
// copies a template); CreateSchema is the cheap way to isolate a test, and this one is for tests
// that need what a schema does not separate (LISTEN/NOTIFY channels, advisory locks).
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", c.counter.Add(1))
	if _, err := c.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// CreateSchema creates a new, empty schema in the cluster's database "postgres" and returns a URL
// whose connections have it alone on their search_path, so that a store's unqualified tables are
// made and found there: a test's own tables, for a few milliseconds instead of a database's 200.
func (c *Cluster) CreateSchema(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", c.counter.Add(1))
	if _, err := c.admin.ExecContext(ctx, `CREATE SCHEMA `+name); err != nil {
		return "", fmt.Errorf("create schema %s: %w", name, err)
	}
	// pgx sends a URL parameter it does not know as a run-time setting when it connects.
	return c.URL("postgres") + "&search_path=" + name, nil
}

// Stop stops the server at once and removes its folder.
func (c *Cluster) Stop() error {
	var errs []error
	if c.admin != nil {
		errs = append(errs, c.admin.Close())
	}
	if out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop"); err != nil {
		errs = append(errs, fmt.Errorf("pg_ctl stop: %w\n%s", err, out))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

var (
	shared    *Cluster
	sharedErr error
	once      sync.Once
	started   atomic.Bool
)

// Main runs a test binary's tests with one cluster for all of them, started on the first
// NewDatabase or NewSchema and stopped when the tests end; it exits with the tests' status, failed
// too when a goroutine outlives the tests (every service a test starts, it must stop).
func Main(m *testing.M) {
	code := m.Run()
	if started.Load() && shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			code = max(code, 1)
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Shared returns the test binary's cluster, starting it on first use. Main must run the tests,
// so that it is stopped.
func Shared() (*Cluster, error) {
	once.Do(func() {
		started.Store(true)
		shared, sharedErr = Start()
	})
	return shared, sharedErr
}

// NewDatabase returns the URL of a new, empty database on the binary's cluster. It fails t when
// PostgreSQL cannot be started, saying what to install.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return create(t, (*Cluster).CreateDatabase)
}

// NewSchema returns the URL of a new, empty schema on the binary's cluster (see
// Cluster.CreateSchema). It fails t when PostgreSQL cannot be started, saying what to install.
func NewSchema(t testing.TB) string {
	t.Helper()
	return create(t, (*Cluster).CreateSchema)
}

func create(t testing.TB, fn func(*Cluster, context.Context) (string, error)) string {
	t.Helper()
	c, err := Shared()
	if err != nil {
		t.Fatalf("PostgreSQL for the tests: %v", err)
	}
	url, err := fn(c, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}
