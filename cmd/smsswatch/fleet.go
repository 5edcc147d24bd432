package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/smsswatch/smsswatch/stream"
)

func init() {
	register(&command{name: "fleet", summary: "watch sensor heartbeats on NATS; tell silent sensors", run: runFleet})
}

const fleetExamples = `  smsswatch fleet --nats nats://siem.example:4222                 (a live table; sensor.silent lines)
  smsswatch fleet --nats nats://siem.example:4222 --once 35s       (a check: exit 1 if a sensor is silent)
  smsswatch fleet --once 35s --expect WS01,WS02,DC01 | logger      (hosts that must be heard)
`

func runFleet(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("fleet", "fleet [flags]", fleetExamples, io.err)
	natsConfig := addNATSFlags(fs)
	if f := fs.Lookup("heartbeat"); f != nil { // here: assumed, not sent
		f.Usage = "heartbeat period assumed for expected hosts not yet heard and for sensors whose heartbeats do not carry theirs (at least 100ms) ($" + envName("heartbeat") + ")"
	}
	refresh := durationFlag(fs, "refresh", 0, "how often the table is printed; 0: every heartbeat period (--heartbeat)")
	once := durationFlag(fs, "once", 0, "listen this long (e.g. 3.5 heartbeat periods), print the table and exit: 1 if a sensor is silent or none was heard, else 0")
	expect := stringFlag(fs, "expect", "", "comma-separated hosts that must send heartbeats (silent until heard)")
	plain := boolFlag(fs, "plain", false, "plain lines even on a terminal (no redraw)")
	logLevel := stringFlag(fs, "log-level", "warn", "log level: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "smsswatch fleet: unexpected argument %q\n", sanitizeLine(fs.Arg(0)))
		return exitError
	}
	cfg, err := natsConfig()
	if err != nil {
		fmt.Fprintf(io.err, "smsswatch fleet: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	if cfg.Conn.URL == "" {
		cfg.Conn.URL = stream.DefaultURL
	}
	switch {
	case cfg.Heartbeat <= 0:
		fmt.Fprintf(io.err, "smsswatch fleet: --heartbeat must be a positive period\n")
		return exitError
	case *refresh < 0:
		fmt.Fprintf(io.err, "smsswatch fleet: --refresh must not be negative\n")
		return exitError
	case *once < 0:
		fmt.Fprintf(io.err, "smsswatch fleet: --once must not be negative\n")
		return exitError
	}
	var hosts []string
	for _, h := range strings.Split(*expect, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	redraw := false
	if f, ok := io.out.(*os.File); ok && !*plain && *once == 0 {
		redraw = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	err = stream.WatchFleet(ctx, stream.FleetConfig{
		Conn: cfg.Conn, SubjectPrefix: cfg.SubjectPrefix,
		Period: cfg.Heartbeat, Refresh: *refresh, Once: *once, Expect: hosts, Redraw: redraw,
		Logger: newLogger(io.err, *logLevel),
	}, io.out)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, stream.ErrSilent):
		fmt.Fprintf(io.err, "smsswatch fleet: %s\n", sanitizeLine(err.Error()))
		return exitViolations
	case errors.Is(err, context.Canceled) && *once > 0:
		fmt.Fprintf(io.err, "smsswatch fleet: interrupted before the end of --once %v\n", *once)
		return exitError
	}
	fmt.Fprintf(io.err, "smsswatch fleet: %s\n", sanitizeLine(err.Error()))
	return exitError
}
