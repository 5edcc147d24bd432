package main

import (
	"bufio"
	"context"
	"fmt"
	"runtime/debug"

	"github.com/smsswatch/smsswatch/detect/recorded"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream/alert"
)

func init() {
	register(&command{name: "hunt", summary: "run the detector over recorded logs; violations as JSON lines", run: runHunt})
}

const huntExamples = `  smsswatch hunt Security.evtx Sysmon.evtx
  smsswatch hunt --tree forwarded.json.gz
  smsswatch hunt --strict testdata/rule_parent.jsonl | jq .rule.id

Inputs (detected by content): EVTX, NXLog JSON lines (optionally gzip),
native smsswatch traces. Violations go to stdout as the JSON alert
documents published to NATS; the summary goes to stderr.
Exit status: 0 no violation, 1 violations found, 2 error.
`

// maxDedupe bounds the dedupe keys hunt remembers.
const maxDedupe = 1 << 20

// flushAlerts flushes the buffered alert lines; the first write error
// wins.
func flushAlerts(bw *bufio.Writer, out *alert.LineWriter) error {
	ferr := bw.Flush()
	if err := out.Err(); err != nil {
		return err
	}
	return ferr
}

func runHunt(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("hunt", "hunt [flags] FILE...", huntExamples, io.err)
	dopts := addDetectFlags(fs)
	dopts.history = 4096
	strict := boolFlag(fs, "strict", false, "exit 2 when any record is skipped")
	tree := boolFlag(fs, "tree", false, "print the smss process tree of each host on stderr")
	window := durationFlag(fs, "reorder-window", defaultReorderWindow, "how far out of time order records may be")
	maxBuf := fs.Int("reorder-max", defaultReorderMax, "most events buffered per (host, source) for ordering")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := checkReorder(*window, *maxBuf); err != nil {
		fmt.Fprintf(io.err, "smsswatch hunt: %s\n", err)
		return exitError
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(io.err, "smsswatch hunt: no input files (see smsswatch hunt --help)")
		return exitError
	}
	det, err := dopts.detector()
	if err != nil {
		fmt.Fprintf(io.err, "smsswatch hunt: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restored for the caller
	boundMemory(fs.NArg())
	bw := bufio.NewWriter(io.out)
	out := alert.NewLineWriter(bw, maxDedupe)
	prog := startProgress(io.err, fs.Args())
	rec := recorded.New(det, out, recorded.Options{ReorderWindow: *window, ReorderMax: *maxBuf, Before: func(*etw.Event) { prog.add() }})
	err = rec.Run(ctx, fs.Args())
	prog.end()
	if err != nil {
		_ = flushAlerts(bw, out)
		fmt.Fprintf(io.err, "smsswatch hunt: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	if err := flushAlerts(bw, out); err != nil {
		fmt.Fprintf(io.err, "smsswatch hunt: write: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	writeSummary(io.err, rec, out)
	if *tree {
		writeTrees(io.err, rec)
	}
	switch {
	case *strict && rec.Skips().Total > 0:
		fmt.Fprintf(io.err, "smsswatch hunt: %v\n", errStrict)
		return exitError
	case out.Written() > 0:
		return exitViolations
	case damagedInputs(rec.Inputs()) > 0:
		fmt.Fprintf(io.err, "smsswatch hunt: %d input(s) damaged (records lost); what was readable was read\n", damagedInputs(rec.Inputs()))
		return exitError
	}
	return exitOK
}

// damagedInputs counts the inputs that lost records to damage: data that
// ended in damage (a corrupt or truncated gzip stream or tar archive), or
// EVTX records known to exist but not read (bad or missing chunks). A
// damaged EVTX file header alone loses nothing and does not count.
func damagedInputs(inputs []recorded.Input) int {
	n := 0
	for _, in := range inputs {
		if in.Stats.Damaged > 0 || in.Stats.LostRecords > 0 {
			n++
		}
	}
	return n
}
