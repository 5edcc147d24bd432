package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/detect/recorded"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream"
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

// alertWriter writes each violation once (by dedupe key) as a JSON line.
type alertWriter struct {
	w          *bufio.Writer
	buf        []byte
	seen       map[uint64]struct{}
	written    int64
	duplicates int64
	byRule     [detect.NumRules]int64
	err        error
}

func newAlertWriter(w io.Writer) *alertWriter {
	return &alertWriter{w: bufio.NewWriter(w), buf: make([]byte, 0, 4096), seen: map[uint64]struct{}{}}
}

// Violation implements detect.Sink.
func (a *alertWriter) Violation(v *detect.Violation) {
	if _, dup := a.seen[v.DedupeKey]; dup {
		a.duplicates++
		return
	}
	if len(a.seen) < maxDedupe {
		a.seen[v.DedupeKey] = struct{}{}
	}
	a.written++
	a.byRule[v.Rule]++
	a.buf = stream.AppendAlert(a.buf[:0], v)
	a.buf = append(a.buf, '\n')
	if _, err := a.w.Write(a.buf); err != nil && a.err == nil {
		a.err = err
	}
}

func (a *alertWriter) flush() error {
	if err := a.w.Flush(); err != nil && a.err == nil {
		a.err = err
	}
	return a.err
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
	out := newAlertWriter(io.out)
	prog := startProgress(io.err, fs.Args())
	rec := recorded.New(det, out, recorded.Options{ReorderWindow: *window, ReorderMax: *maxBuf, Before: func(*etw.Event) { prog.add() }})
	err = rec.Run(ctx, fs.Args())
	prog.end()
	if err != nil {
		out.flush()
		fmt.Fprintf(io.err, "smsswatch hunt: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	if err := out.flush(); err != nil {
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
	case out.written > 0:
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
