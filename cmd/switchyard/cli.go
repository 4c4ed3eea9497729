package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
	"strings"
)

// errUsage marks errors caused by how the command was called; they exit with status 2.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

const usage = `Switchyard: a self-hosted webhook engine.

Usage:
  switchyard serve [flags]                  run the server (every flag also reads SWITCHYARD_<FLAG>)
  switchyard migrate [--data-dir DIR]       bring the database schema up to date
  switchyard copy --to postgres://... [--data-dir DIR] [--from sqlite://PATH]
                                            move a stopped node's database and data dir into PostgreSQL
  switchyard version                        print the version and the commit it was built from
  switchyard plugin new NAME [--dir DIR]    scaffold a plugin folder (Go, against sdk/) that builds at once
  switchyard plugin build DIR [-o FILE]     compile a Go plugin (DIR or DIR/wasm) to WebAssembly
  switchyard plugin test --plugin FILE.wasm --event EVENT.json [--subscription SUB.json]
                                            shape one event and print the request

Run "switchyard COMMAND -h" for a command's flags.
`

// run is the whole program; main only wires it to the process. Asking for help (-h on any
// command) is not an error: the usage goes to stdout and the exit status is 0.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "copy":
		return runCopy(ctx, args[1:], stdout, stderr)
	case "plugin":
		return runPlugin(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// newFlagSet returns a flag set that reports errors instead of exiting, so run stays testable.
// Its usage (asked for with -h) goes to stdout; a usage error's message goes to stderr.
func newFlagSet(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: switchyard %s [flags]\n\n", name)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	return fs
}

// newEnvFlagSet is newFlagSet for commands whose flags also read SWITCHYARD_* variables
// (parseWithEnv): its usage names each flag's variable.
func newEnvFlagSet(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet(name, stdout, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: switchyard %s [flags]\n\nEvery flag may be given instead as the environment variable beside it; a flag on the command line wins.\n\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = "none"
			}
			fmt.Fprintf(stdout, "  --%s  (%s, default %s)\n    \t%s\n", f.Name, envName(f.Name), def, f.Usage)
		})
	}
	return fs
}

// envName is the environment variable of a flag: --data-dir is SWITCHYARD_DATA_DIR.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// version and commit say which build this is; the Makefile sets them (-ldflags "-X main.version=...
// -X main.commit=..."). A plain go build says "dev", with the commit Go stamps when it may.
var (
	version = "dev"
	commit  string
)

// versionLine says which build this is: the version, and the commit it was built from (with
// "+changes" when the tree had uncommitted changes, as far as Go's stamp tells).
func versionLine() string {
	commit, modified := commit, false
	if info, ok := debug.ReadBuildInfo(); ok && commit == "" {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	if modified {
		commit += "+changes"
	}
	return fmt.Sprintf("switchyard %s (commit %s, %s)", version, commit, goruntime.Version())
}
