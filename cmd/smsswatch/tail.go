package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mattn/go-isatty"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream"
)

func init() {
	register(&command{name: "tail", summary: "print alerts from NATS as they arrive", run: runTail})
}

const tailExamples = `  smsswatch tail --nats nats://siem.example:4222
  smsswatch tail --nats nats://siem.example:4222 --host WS01 --rule smss.image_path
  smsswatch tail --json --durable soc-tail --all       (JetStream: resume where the last tail stopped)
  NATS_URL=tls://nats.example:4222 SMSSWATCH_CREDS=soc.creds smsswatch tail --tls-ca ca.pem
`

func runTail(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("tail", "tail [flags]", tailExamples, io.err)
	natsConfig := addNATSFlags(fs)
	host := stringFlag(fs, "host", "", "only alerts from this host")
	rule := stringFlag(fs, "rule", "", "only alerts of this rule ID, e.g. smss.image_path")
	subject := stringFlag(fs, "subject", "", "subscribe to this subject instead (overrides --host and --rule)")
	durable := stringFlag(fs, "durable", "", "read through this durable JetStream consumer (on --stream) and acknowledge each alert")
	all := boolFlag(fs, "all", false, "with --durable: a new consumer starts at the oldest stored alert")
	jsonOut := boolFlag(fs, "json", false, "print each alert as one line of JSON")
	heartbeats := boolFlag(fs, "heartbeats", false, "also print sensor heartbeats (not with --durable)")
	colorMode := stringFlag(fs, "color", "auto", "colour: auto (only on a terminal, not with $NO_COLOR), always, never")
	logLevel := stringFlag(fs, "log-level", "warn", "log level: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "smsswatch tail: unexpected argument %q\n", sanitizeLine(fs.Arg(0)))
		return exitError
	}
	cfg, err := natsConfig()
	if err != nil {
		fmt.Fprintf(io.err, "smsswatch tail: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	if cfg.Conn.URL == "" {
		cfg.Conn.URL = stream.DefaultURL
	}
	if *rule != "" {
		if _, err := detect.ParseRule(*rule); err != nil {
			fmt.Fprintf(io.err, "smsswatch tail: --rule: %s\n", sanitizeLine(err.Error()))
			return exitError
		}
	}
	color := false
	switch *colorMode {
	case "always":
		color = true
	case "never":
	case "auto":
		_, noColor := os.LookupEnv("NO_COLOR")
		if f, ok := io.out.(*os.File); ok && !noColor && !*jsonOut {
			color = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
		}
	default:
		fmt.Fprintf(io.err, "smsswatch tail: --color must be auto, always or never\n")
		return exitError
	}
	err = stream.Tail(ctx, stream.TailConfig{
		Conn: cfg.Conn, SubjectPrefix: cfg.SubjectPrefix, Stream: cfg.Stream,
		Host: *host, Rule: *rule, Subject: *subject,
		Durable: *durable, DeliverAll: *all, Heartbeats: *heartbeats,
		JSON: *jsonOut, Color: color,
		Logger: newLogger(io.err, *logLevel),
		Lost: func(total int) {
			fmt.Fprintf(io.err, "smsswatch tail: %d alert(s) lost so far: this reader is too slow for core NATS (use --durable)\n", total)
		},
	}, io.out)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(io.err, "smsswatch tail: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	return exitOK
}
