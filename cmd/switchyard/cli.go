package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// errUsage marks errors caused by how the command was called; they exit with status 2.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `Switchyard: a self-hosted webhook engine.

Usage:
  switchyard serve [flags]                  run the server (every flag also reads SWITCHYARD_<FLAG>)
  switchyard migrate [--data-dir DIR]       bring the database schema up to date
  switchyard plugin new NAME [--dir DIR]    scaffold a plugin folder (Go, against sdk/) that builds at once
  switchyard plugin build DIR [-o FILE]     compile a Go plugin (DIR or DIR/wasm) to WebAssembly
  switchyard plugin test --plugin FILE.wasm --event EVENT.json [--subscription SUB.json]
                                            shape one event and print the request

Run "switchyard COMMAND -h" for a command's flags.
`

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
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
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
