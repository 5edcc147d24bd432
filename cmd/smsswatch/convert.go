package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/smsswatch/smsswatch/etw/input"
	"github.com/smsswatch/smsswatch/etw/trace"

	"github.com/smsswatch/smsswatch/detect/recorded"
	"github.com/smsswatch/smsswatch/etw"
)

func init() {
	register(&command{name: "convert", summary: "convert recorded logs to the native trace format", run: runConvert})
}

const convertExamples = `  smsswatch convert Sysmon.evtx > sysmon.jsonl
  smsswatch convert -o boot.jsonl Security.evtx forwarded.json.gz

Every input smsswatch reads (EVTX, NXLog JSON lines, gzip, native traces)
becomes native trace lines, in file order; records that are not events of
interest are left out, malformed ones are skipped and reported.
`

func runConvert(_ context.Context, args []string, io stdio) int {
	fs := newFlagSet("convert", "convert [flags] FILE...", convertExamples, io.err)
	outPath := fs.String("o", "-", "output file (- for stdout)")
	strict := boolFlag(fs, "strict", false, "exit 2 when any record is skipped")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(io.err, "smsswatch convert: no input files (see smsswatch convert --help)")
		return exitError
	}
	out := io.out
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			fmt.Fprintf(io.err, "smsswatch convert: %s\n", sanitizeLine(err.Error()))
			return exitError
		}
		defer f.Close()
		out = f
	}
	var skips recorded.Skips
	tw := trace.NewWriter(out)
	var n int64
	prog := startProgress(io.err, fs.Args())
	for _, path := range fs.Args() {
		c, err := convertFile(path, tw, &skips, prog)
		n += c
		if err != nil {
			prog.end()
			tw.Flush()
			fmt.Fprintf(io.err, "smsswatch convert: %s\n", sanitizeLine(err.Error()))
			return exitError
		}
	}
	prog.end()
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(io.err, "smsswatch convert: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	fmt.Fprintf(io.err, "smsswatch convert: %d event(s) written, %d record(s) skipped\n", n, skips.Total)
	for _, note := range skips.Notes {
		fmt.Fprintf(io.err, "  %s\n", sanitizeLine(note))
	}
	if *strict && skips.Total > 0 {
		fmt.Fprintf(io.err, "smsswatch convert: %v\n", errStrict)
		return exitError
	}
	return exitOK
}

func convertFile(path string, tw *trace.Writer, skips *recorded.Skips, prog *progress) (int64, error) {
	rd, closer, err := input.Open(path, skips)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	var ev etw.Event
	var n int64
	for {
		err := rd.Next(&ev)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		if err := tw.Write(&ev); err != nil {
			return n, err
		}
		n++
		prog.add()
	}
}
