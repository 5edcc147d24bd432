package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/smsswatch/smsswatch/etw/trace"

	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/live"
)

func init() {
	register(&command{name: "record", summary: "record live ETW events (Windows) into a native trace file for replay", run: runRecord})
}

const recordExamples = `  smsswatch record boot.trace
  smsswatch record --duration 10m rdp-logon.trace
  smsswatch hunt rdp-logon.trace        (replay it through the detector)

Writes what the live sensor sees (boot evidence, the start-up process
snapshot, Kernel-Process starts, exits and rundown, Session Manager
registry values) in the native trace format, one JSON event per line,
until interrupted or for --duration. FILE "-" is stdout.
Exit status: 0 recorded, 2 error (on Linux: not supported).
`

func runRecord(ctx context.Context, args []string, stdio stdio) int {
	fs := newFlagSet("record", "record [flags] FILE", recordExamples, stdio.err)
	duration := durationFlag(fs, "duration", 0, "stop after this long (0: until interrupted)")
	session := stringFlag(fs, "session", "smsswatch-record", "ETW session name (distinct from the service's \"smsswatch\")")
	noRegistry := boolFlag(fs, "no-registry", false, "do not record the Session Manager registry values")
	logLevel := stringFlag(fs, "log-level", "info", "log level: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stdio.err, "smsswatch record: want exactly one FILE (see smsswatch record --help)")
		return exitError
	}
	log := newLogger(stdio.err, *logLevel)
	live, err := live.New(live.Config{SessionName: *session, NoRegistry: *noRegistry,
		Logf: func(format string, a ...any) {
			log.Info().Str("component", "etw").Msg(sanitizeLine(fmt.Sprintf(format, a...)))
		}})
	if err != nil {
		fmt.Fprintf(stdio.err, "smsswatch record: %v\n", err)
		return exitError
	}
	name := fs.Arg(0)
	var out io.Writer = stdio.out
	if name != "-" {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
		if err != nil {
			fmt.Fprintf(stdio.err, "smsswatch record: %v\n", err)
			return exitError
		}
		defer f.Close()
		out = f
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	return record(ctx, live, out, &log)
}

// record runs src until ctx ends, writing every event to out.
func record(ctx context.Context, src liveSource, out io.Writer, log *zerolog.Logger) int {
	r := &traceRecorder{w: trace.NewWriter(out), log: log}
	log.Info().Str("host", src.Host()).Msg("recording")
	if err := src.Run(ctx, r); err != nil {
		log.Error().Err(err).Msg("live sensor")
		return exitError
	}
	if err := r.w.Flush(); err != nil && r.err == nil {
		r.err = err
	}
	st := src.Stats()
	log.Info().Int64("written", r.written).Int("blind", r.blind).Uint64("dropped", st.Dropped).
		Uint64("lost_events", st.LostEvents).Msg("recording stopped")
	if r.err != nil {
		log.Error().Err(r.err).Msg("writing the trace")
		return exitError
	}
	return exitOK
}

// traceRecorder is the etw.Handler of record: it writes events and flushes
// the file about once a second. The trace format has no record for a
// blind spot; those are logged (and counted) instead.
type traceRecorder struct {
	w         *trace.Writer
	log       *zerolog.Logger
	err       error
	written   int64
	blind     int
	lastFlush int64
}

// Handle implements etw.Handler.
func (r *traceRecorder) Handle(ev *etw.Event) {
	if r.err != nil {
		return
	}
	if err := r.w.Write(ev); err != nil {
		r.err = err
		return
	}
	r.written++
}

// Advance implements etw.Handler.
func (r *traceRecorder) Advance(now int64) {
	if r.err == nil && now-r.lastFlush >= int64(time.Second) {
		r.lastFlush = now
		if err := r.w.Flush(); err != nil {
			r.err = err
		}
	}
}

// Blind implements etw.Handler.
func (r *traceRecorder) Blind(now int64, reason string) {
	r.blind++
	r.log.Warn().Time("at", etw.TimeOf(now)).Str("reason", sanitizeLine(reason)).Msg("sensor blind: the recording has a gap")
}
