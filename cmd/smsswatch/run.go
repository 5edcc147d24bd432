package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/live"
	"github.com/smsswatch/smsswatch/stream"
	"github.com/smsswatch/smsswatch/stream/alert"
)

func init() {
	register(&command{name: "run", summary: "live sensor (Windows): ETW -> detector -> NATS, in the foreground or as the service", run: runRun})
}

const runExamples = `  smsswatch run
  smsswatch run --nats nats://siem.example:4222 --config C:\ProgramData\smsswatch\config.json
  smsswatch service install --nats nats://siem.example:4222   (then: smsswatch service start)

Watches Microsoft-Windows-Kernel-Process through the ETW session
"smsswatch" (administrator or LocalSystem only), with a process snapshot at
start and the Session Manager registry values. Violations go to stdout as
JSON alert lines (unless --quiet) and to NATS when it is configured.
Runs until interrupted (Ctrl-C) or, as the service, until stopped.
Exit status: 0 stopped cleanly, 2 error (on Linux: not supported).
`

// liveSource is what run needs from the live sensor: *live.Sensor, or a fake
// in tests.
type liveSource interface {
	Run(ctx context.Context, h etw.Handler) error
	SystemRoot() string
	Devices() []live.DeviceMapping
	Host() string
	Stats() live.Stats
	// Confirmer tells whether a process is still running (nil: it
	// cannot be asked); the detector asks it at a live session child's
	// deadline.
	Confirmer() live.ProcessConfirmer
}

// runOptions are run's flags.
type runOptions struct {
	detect      *detectOptions
	nats        *natsRunOptions
	session     *string
	queue       *int
	flush       *time.Duration
	lag         *time.Duration
	health      *time.Duration
	canaryEvery *time.Duration
	canaryWait  *time.Duration
	noRegistry  *bool
	noRundown   *bool
	quiet       *bool
	logLevel    *string
	logFile     *string
	closeWait   *time.Duration
	serviceName *string
}

// addRunFlags defines run's flags on fs (service install passes the same
// flags on to the service's command line).
func addRunFlags(fs *flag.FlagSet) *runOptions {
	return &runOptions{
		detect:      addDetectFlags(fs),
		nats:        addNATSRunFlags(fs),
		session:     stringFlag(fs, "session", live.DefaultSessionName, "ETW session name (a leftover session of that name is stopped)"),
		queue:       intFlag(fs, "queue-size", 65536, "events the ETW callback may queue for the detector before dropping (and raising sensor.blind)"),
		flush:       durationFlag(fs, "flush-every", 250*time.Millisecond, "explicit ETW buffer flush period, the bound on delivery latency (negative: the session's 1 s flush timer only)"),
		lag:         durationFlag(fs, "delivery-lag", 0, "how long events are held to be put in time order before the detector sees them (default 1s; 2s when --flush-every is negative)"),
		health:      durationFlag(fs, "health-every", 2*time.Second, "how often the session's lost-event counters and provider settings are checked"),
		canaryEvery: checkedDurationFlag(fs, "canary-every", 30*time.Second, checkCanaryEvery, "how often the sensor starts a canary process (cmd.exe /c exit) and expects its ProcessStart, raising sensor.blind when it does not come (a negative `duration`: no canary)"),
		canaryWait:  checkedDurationFlag(fs, "canary-timeout", 5*time.Second, checkCanaryTimeout, "how long a canary's ProcessStart may take before sensor.blind (a `duration`; raised to twice --flush-every, or 2s when that is negative)"),
		noRegistry:  boolFlag(fs, "no-registry", false, "do not read or watch the Session Manager registry values"),
		noRundown:   boolFlag(fs, "no-rundown", false, "do not ask the provider for a process rundown at start"),
		quiet:       boolFlag(fs, "quiet", false, "do not write alerts to stdout"),
		logLevel:    stringFlag(fs, "log-level", "info", "log level: debug, info, warn, error"),
		logFile:     stringFlag(fs, "log-file", "", `log file (default: stderr; as the service %ProgramData%\smsswatch\smsswatch.log)`),
		closeWait:   durationFlag(fs, "close-wait", 10*time.Second, "how long to wait at exit for NATS to acknowledge queued alerts"),
		serviceName: stringFlag(fs, "service-name", defaultServiceName, "Windows service name (when running as the service)"),
	}
}

// intFlag defines an int flag that its environment variable can set.
func intFlag(fs *flag.FlagSet, name string, def int, help string) *int {
	return fs.Int(name, def, help+" ($"+envName(name)+")")
}

// minCanaryEvery is the shortest --canary-every: each canary is a process
// start on the host.
const minCanaryEvery = time.Second

// errFlagValue is wrapped by the errors of checkedDuration flags.
var errFlagValue = errors.New("invalid flag value")

// checkCanaryEvery validates --canary-every: negative (no canary) or at
// least minCanaryEvery; 0 is refused rather than taken as the default.
func checkCanaryEvery(d time.Duration) error {
	if d >= 0 && d < minCanaryEvery {
		return fmt.Errorf("%w: must be negative (no canary) or at least %v, got %v", errFlagValue, minCanaryEvery, d)
	}
	return nil
}

// checkCanaryTimeout validates --canary-timeout: positive.
func checkCanaryTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: must be positive, got %v", errFlagValue, d)
	}
	return nil
}

// checkedDuration is a duration flag whose value check runs when it is
// set, so that the command line, its environment variable and `service
// install` all refuse a bad value the same way.
type checkedDuration struct {
	d     *time.Duration
	check func(time.Duration) error
}

// String implements flag.Value.
func (c *checkedDuration) String() string {
	if c == nil || c.d == nil {
		return time.Duration(0).String()
	}
	return c.d.String()
}

// Set implements flag.Value.
func (c *checkedDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%w: %q is not a duration like 30s", errFlagValue, s)
	}
	if err := c.check(d); err != nil {
		return err
	}
	*c.d = d
	return nil
}

// checkedDurationFlag defines a duration flag, checked by check, that its
// environment variable can set.
func checkedDurationFlag(fs *flag.FlagSet, name string, def time.Duration, check func(time.Duration) error, help string) *time.Duration {
	d := def
	fs.Var(&checkedDuration{d: &d, check: check}, name, help+" ($"+envName(name)+")")
	return &d
}

// liveConfig is the sensor configuration the flags give.
func (o *runOptions) liveConfig(log *zerolog.Logger) live.Config {
	return live.Config{
		SessionName:   *o.session,
		QueueSize:     *o.queue,
		FlushEvery:    *o.flush,
		DeliveryLag:   *o.lag,
		HealthEvery:   *o.health,
		CanaryEvery:   *o.canaryEvery,
		CanaryTimeout: *o.canaryWait,
		NoRegistry:    *o.noRegistry,
		NoRundown:     *o.noRundown,
		Logf: func(format string, args ...any) {
			log.Info().Str("component", "etw").Msg(sanitizeLine(fmt.Sprintf(format, args...)))
		},
	}
}

func runRun(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("run", "run [flags]", runExamples, io.err)
	o := addRunFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "smsswatch run: unexpected argument %q (run takes flags only)\n", sanitizeLine(fs.Arg(0)))
		return exitError
	}
	if isWindowsService() {
		return runAsService(*o.serviceName, func(ctx context.Context, stopReason func() string) int {
			// The service trusts its files: refuse to start when anyone
			// but SYSTEM and Administrators can change (or read) them.
			if err := serviceStartChecks(func(name string) string { return fs.Lookup(name).Value.String() }); err != nil {
				fmt.Fprintf(io.err, "smsswatch run: refusing to start the service: %v\n", err)
				return exitError
			}
			return runLive(ctx, o, io, true, stopReason)
		})
	}
	return runLive(ctx, o, io, false, nil)
}

// runLive opens the log, makes the live sensor and runs the pipeline.
func runLive(ctx context.Context, o *runOptions, io stdio, service bool, stopReason func() string) int {
	logw, closeLog, err := openLog(*o.logFile, service, io.err)
	if err != nil {
		fmt.Fprintf(io.err, "smsswatch run: %v\n", err)
		return exitError
	}
	defer closeLog()
	log := newLogger(logw, *o.logLevel)
	// One sensor per machine: `run` in a console and the service would
	// fight over the session name (each stopping the other's "leftover").
	release, err := acquireSensorMutex()
	if err != nil {
		log.Error().Err(err).Msg("cannot start the live sensor")
		if logw != io.err {
			fmt.Fprintf(io.err, "smsswatch run: %v\n", err)
		}
		return exitError
	}
	defer release()
	live, err := live.New(o.liveConfig(&log))
	if err != nil {
		log.Error().Err(err).Msg("cannot start the live sensor")
		if logw != io.err {
			fmt.Fprintf(io.err, "smsswatch run: %v\n", err)
		}
		return exitError
	}
	ev := openEvidenceLog(*o.serviceName)
	defer ev.Close()
	return runPipelineEvidence(ctx, o, live, io.out, &log, stopReason, ev)
}

// openLog returns where the log goes: the file named, the service's
// default file, or stderr.
func openLog(name string, service bool, stderr io.Writer) (io.Writer, func(), error) {
	if name == "" && service {
		dir := os.Getenv("ProgramData")
		if dir == "" {
			dir = `C:\ProgramData`
		}
		name = filepath.Join(dir, "smsswatch", "smsswatch.log")
	}
	if name == "" {
		return stderr, func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
		return nil, nil, fmt.Errorf("log folder: %w", err)
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// runPipeline wires src -> engine (one, for src's host, source etw) ->
// sinks (stdout alert lines, NATS) and runs until ctx ends.
func runPipeline(ctx context.Context, o *runOptions, src liveSource, stdout io.Writer, log *zerolog.Logger, stopReason func() string) int {
	return runPipelineEvidence(ctx, o, src, stdout, log, stopReason, nopEvidence{})
}

// runPipelineEvidence is runPipeline that also writes start, stop and
// every sensor.blind to ev (the Windows Event Log).
func runPipelineEvidence(ctx context.Context, o *runOptions, src liveSource, stdout io.Writer, log *zerolog.Logger, stopReason func() string, ev evidenceLog) int {
	if *o.detect.systemRoot == "" {
		*o.detect.systemRoot = src.SystemRoot()
	}
	det, err := o.detect.detector()
	if err == nil {
		// The sensor's confirmer keeps a lost ProcessStop from firing
		// smss.persistent_child (detect.Config.ConfirmRunning).
		cfg := det.Config()
		if c := src.Confirmer(); c != nil {
			cfg.ConfirmRunning = c
		}
		det, err = detect.New(cfg)
	}
	if err != nil {
		log.Error().Err(err).Msg("detector configuration")
		return exitError
	}
	for _, d := range src.Devices() {
		det.MapDevice(d.Device, d.Drive)
	}
	var sinks multiSink
	if !*o.quiet {
		sinks = append(sinks, alert.NewLineWriter(stdout, 0)) // unbuffered: a console shows each at once
	}
	var violations atomic.Uint64
	var gauges engineGauges // the engine's counters, for the publisher's goroutine
	counters := func() stream.Counters {
		st := src.Stats()
		return stream.Counters{Events: st.Handled, Violations: violations.Load(), Drops: st.Dropped,
			LostEvents: st.LostEvents, QueueDepth: st.QueueLen,
			ClockSteps: st.ClockSteps, CanaryMissed: st.CanaryMissed, ExitsLost: gauges.exitsLost.Load()}
	}
	pub, err := o.nats.publisher(src.Host(), counters, log)
	if err != nil {
		log.Error().Err(err).Msg("NATS")
		return exitError
	}
	if pub != nil {
		sinks = append(sinks, pub)
	}
	sink := detect.SinkFunc(func(v *detect.Violation) {
		violations.Add(1)
		sinks.Violation(v)
	})
	eng := det.Engine(src.Host(), etw.SourceETW, sink)
	log.Info().Str("host", src.Host()).Str("system_root", *o.detect.systemRoot).Int("devices", len(src.Devices())).
		Bool("nats", pub != nil).Bool("confirmer", det.Config().ConfirmRunning != nil).Msg("live sensor starting")

	_ = ev.Info(evidenceStart, "smsswatch live sensor started on "+sanitizeLine(src.Host()))
	code := exitOK
	gauges.Engine = eng
	if err := src.Run(ctx, &evidenceHandler{next: &gauges, log: ev}); err != nil {
		log.Error().Err(err).Msg("live sensor")
		code = exitError
	}
	// The sensor's goroutine is done: the engine is ours now.
	if stopReason != nil {
		if r := stopReason(); r != "" {
			_ = ev.Warning(evidenceBlind, "sensor.blind: "+sanitizeLine(r))
			eng.Blind(time.Now().UnixNano(), r)
		}
	}
	eng.Flush()
	if pub != nil {
		cctx, cancel := context.WithTimeout(context.Background(), *o.closeWait)
		if err := pub.Close(cctx); err != nil {
			log.Warn().Err(err).Msg("NATS: not every alert was delivered")
		}
		cancel()
	}
	st := src.Stats()
	es := eng.Stats()
	_ = ev.Info(evidenceStop, fmt.Sprintf("smsswatch live sensor stopped (exit %d; %d events, %d sensor.blind)", code, st.Handled, st.Blind))
	log.Info().Uint64("events", st.Events).Uint64("handled", st.Handled).Uint64("dropped", st.Dropped).
		Uint64("lost_events", st.LostEvents).Uint64("restarts", st.Restarts).Uint64("blind", st.Blind).
		Uint64("clock_steps", st.ClockSteps).Uint64("canary_missed", st.CanaryMissed).
		Uint64("exits_lost", exitsLost(es)).
		Uint64("violations", violations.Load()).Msg("live sensor stopped")
	return code
}

// engineGauges passes everything to the engine and, each time the sensor
// advances its clock (every 250 ms at most), copies the engine's counters
// the heartbeat reports into atomics: the engine's Stats are the sensor
// goroutine's, the heartbeat runs on the publisher's. Advance, not each
// event, bounds the cost of the copy.
type engineGauges struct {
	*detect.Engine
	exitsLost atomic.Uint64
}

// Advance implements etw.Handler.
func (g *engineGauges) Advance(now int64) {
	g.Engine.Advance(now)
	g.update()
}

// Blind implements etw.Handler.
func (g *engineGauges) Blind(now int64, reason string) {
	g.Engine.Blind(now, reason)
	g.update()
}

func (g *engineGauges) update() {
	g.exitsLost.Store(exitsLost(g.Engine.Stats()))
}

// exitsLost is how many session children's exit records the engine found
// lost (their persistence check not made).
func exitsLost(es detect.Stats) uint64 {
	return es.Unevaluated[detect.RulePersistentChild][detect.GapExitLost]
}

// multiSink gives each violation to every sink.
type multiSink []detect.Sink

// Violation implements detect.Sink.
func (m multiSink) Violation(v *detect.Violation) {
	for _, s := range m {
		s.Violation(v)
	}
}
