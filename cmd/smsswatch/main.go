// Command smsswatch watches smss.exe (Windows Session Manager): a live ETW
// sensor on Windows and the same detector over recorded logs anywhere.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/smsswatch/smsswatch/stream/alert"
)

// Exit codes shared by every subcommand.
const (
	exitOK         = 0
	exitViolations = 1
	exitError      = 2
)

// command is one subcommand. Each lives in its own file and registers
// itself from init.
type command struct {
	name    string
	summary string
	// run executes the command; it returns the process exit code.
	run func(ctx context.Context, args []string, stdio stdio) int
}

// stdio is where a command reads and writes, so tests can capture it.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = map[string]*command{}

// register adds a subcommand; called from init functions only.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("smsswatch: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// signalGrace is how long a command has, after SIGINT or SIGTERM, to stop
// on its own (flush alerts, close NATS) before the process exits anyway:
// a read blocked in the OS (a FIFO with no writer) never sees the signal.
const signalGrace = 3 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		time.Sleep(signalGrace)
		fmt.Fprintln(os.Stderr, "smsswatch: stopped by a signal")
		os.Exit(exitError)
	}()
	host, _ := os.Hostname()
	alert.SetAgent(alert.Agent{Name: "smsswatch", Version: version, ID: host})
	code := dispatch(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.err)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "smsswatch: unknown command %q (see smsswatch --help)\n", sanitizeLine(args[0]))
		return exitError
	}
	return c.run(ctx, args[1:], io)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "smsswatch %s: watches smss.exe, the Windows Session Manager.\n\nUsage: smsswatch COMMAND [flags] [args]\n\nCommands:\n", version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'smsswatch COMMAND --help' for a command's flags and examples.\n")
}
