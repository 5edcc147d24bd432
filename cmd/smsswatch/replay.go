package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/detect/recorded"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

func init() {
	register(&command{name: "replay", summary: "the sensor pipeline over recorded events: detector -> NATS", run: runReplay})
}

const replayExamples = `  smsswatch replay cmd/smsswatch/testdata/demo.jsonl
  smsswatch replay --speed 10 capture.jsonl            (ten times the recorded pace)
  smsswatch replay --nats nats://127.0.0.1:4222 --jetstream Sysmon.evtx

Without --nats, nats-server runs in-process on 127.0.0.1 (with JetStream)
and a subscriber prints each alert as a downstream consumer receives it.
With --nats, alerts are published there (tail them with smsswatch tail).
`

// replayCounts are the replay pipeline's counters, read by the
// publisher's heartbeats from its own goroutine.
type replayCounts struct {
	events     atomic.Uint64
	violations atomic.Uint64
}

func (c *replayCounts) snapshot() stream.Counters {
	return stream.Counters{Events: c.events.Load(), Violations: c.violations.Load()}
}

// waitingSink counts violations on their way to the publisher and, as a
// replay can, waits for room in its queue rather than dropping.
type waitingSink struct {
	ctx    context.Context
	pub    *stream.Publisher
	counts *replayCounts
}

func (w *waitingSink) Violation(v *detect.Violation) {
	w.counts.violations.Add(1)
	_ = w.pub.ViolationWait(w.ctx, v) // a drop it could not avoid is counted by the publisher
}

// pacer sleeps so that events reach the engine at speed times their
// recorded pace; speed 0 means as fast as possible.
type pacer struct {
	ctx       context.Context
	speed     float64
	first     int64
	wallStart time.Time
}

func (p *pacer) before(ev *etw.Event) {
	if p.speed <= 0 || ev.Time == 0 {
		return
	}
	if p.first == 0 {
		p.first, p.wallStart = ev.Time, time.Now()
		return
	}
	due := p.wallStart.Add(time.Duration(float64(ev.Time-p.first) / p.speed))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
		}
	}
}

func runReplay(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("replay", "replay [flags] FILE...", replayExamples, io.err)
	dopts := addDetectFlags(fs)
	natsConfig := addNATSFlags(fs)
	speed := fs.Float64("speed", 0, "replay at this many times the recorded pace; 0: as fast as possible")
	asJSON := boolFlag(fs, "json", false, "print received alerts as JSON lines")
	wait := durationFlag(fs, "wait", 5*time.Second, "how long to wait for the subscriber to receive every alert")
	window := durationFlag(fs, "reorder-window", defaultReorderWindow, "how far out of time order records may be")
	maxBuf := fs.Int("reorder-max", defaultReorderMax, "most events buffered per (host, source) for ordering")
	logLevel := stringFlag(fs, "log-level", "warn", "log level: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(io.err, "smsswatch replay: %s\n", sanitizeLine(err.Error()))
		return exitError
	}
	if fs.NArg() == 0 {
		return fail(errors.New("no input files (see smsswatch replay --help)"))
	}
	if *speed < 0 || math.IsNaN(*speed) || math.IsInf(*speed, 0) {
		return fail(errors.New("--speed must be a finite number, 0 or more"))
	}
	if err := checkReorder(*window, *maxBuf); err != nil {
		return fail(err)
	}
	log := newLogger(io.err, *logLevel)
	det, err := dopts.detector()
	if err != nil {
		return fail(err)
	}
	cfg, err := natsConfig()
	if err != nil {
		return fail(err)
	}
	host, _ := os.Hostname()
	counts := &replayCounts{}
	cfg.Host, cfg.Version, cfg.Counters = host, version, counts.snapshot
	cfg.Logger = log.With().Str("component", "nats").Logger()

	// No broker given: run one here, and a consumer that prints.
	embedded := cfg.Conn.URL == ""
	var tailWG sync.WaitGroup
	var printed atomic.Uint64
	tailCtx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	if embedded {
		srv, err := natsserver.Start(natsserver.Config{Host: "127.0.0.1", JetStream: true, Logger: &cfg.Logger})
		if err != nil {
			return fail(fmt.Errorf("embedded NATS server: %w", err))
		}
		defer srv.Shutdown()
		cfg.Conn.URL = srv.URL()
		cfg.JetStream = true
		fmt.Fprintf(io.err, "smsswatch replay: embedded NATS server at %s (JetStream); alerts received by a subscriber:\n", srv.URL())
		ready := make(chan struct{})
		startErr := make(chan error, 1)
		tailWG.Add(1)
		go func() {
			defer tailWG.Done()
			color := false
			if f, ok := io.out.(*os.File); ok {
				color = isatty.IsTerminal(f.Fd()) && !*asJSON
			}
			var once sync.Once
			tc := stream.TailConfig{
				Conn: cfg.Conn, SubjectPrefix: cfg.SubjectPrefix, Durable: "replay", Stream: cfg.Stream, DeliverAll: true,
				JSON: *asJSON, Color: color, Logger: cfg.Logger,
				Ready:   func() { once.Do(func() { close(ready) }) },
				Printed: func() { printed.Add(1) },
			}
			// The publisher creates the stream as it connects: until then
			// the consumer cannot be made, so try again for a while.
			for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
				err := stream.Tail(tailCtx, tc, io.out)
				select {
				case <-ready:
					if err != nil {
						log.Error().Str("error", sanitizeLine(err.Error())).Msg("subscriber stopped")
					}
					return
				default:
				}
				if err == nil || time.Since(start) > 10*time.Second || tailCtx.Err() != nil {
					startErr <- err
					return
				}
			}
		}()
		// The stream must exist before the consumer: the publisher makes it.
		pub, err := stream.NewPublisher(cfg)
		if err != nil {
			return fail(err)
		}
		select {
		case <-ready:
		case err := <-startErr:
			pub.Close(context.Background())
			if err == nil {
				err = errors.New("the subscriber stopped before it was ready")
			}
			return fail(fmt.Errorf("subscriber: %w", err))
		}
		return replayInto(ctx, io, pub, counts, det, fs.Args(), recorded.Options{ReorderWindow: *window, ReorderMax: *maxBuf}, *speed, func(n uint64) {
			deadline := time.Now().Add(*wait)
			for printed.Load() < n && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			stopTail()
			tailWG.Wait()
			fmt.Fprintf(io.err, "smsswatch replay: the subscriber received %d of %d alert(s)\n", printed.Load(), n)
		})
	}
	pub, err := stream.NewPublisher(cfg)
	if err != nil {
		return fail(err)
	}
	return replayInto(ctx, io, pub, counts, det, fs.Args(), recorded.Options{ReorderWindow: *window, ReorderMax: *maxBuf}, *speed, nil)
}

// replayInto runs the recorded pipeline into pub, closes it, and reports.
// received, if set, waits for the consumer to see the published alerts.
func replayInto(ctx context.Context, io stdio, pub *stream.Publisher, counts *replayCounts, det *detect.Detector, files []string,
	opts recorded.Options, speed float64, received func(n uint64)) int {
	sink := &waitingSink{ctx: ctx, pub: pub, counts: counts}
	p := &pacer{ctx: ctx, speed: speed}
	opts.Before = func(ev *etw.Event) {
		counts.events.Add(1)
		p.before(ev)
	}
	rec := recorded.New(det, sink, opts)
	readErr := rec.Run(ctx, files)
	if errors.Is(readErr, context.Canceled) {
		readErr = nil // stopped by a signal: report what was replayed
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closeErr := pub.Close(closeCtx)
	st := pub.Stats()
	if received != nil {
		received(st.Published)
	}
	fmt.Fprintf(io.err, "smsswatch replay: %d file(s), %d events, %d record(s) skipped, %d violation(s), %d published, %d dropped\n",
		len(rec.Inputs()), rec.Events(), rec.Skips().Total, counts.violations.Load(), st.Published, st.Dropped+st.SpoolDropped)
	for _, n := range rec.Skips().Notes {
		fmt.Fprintf(io.err, "  %s\n", sanitizeLine(n))
	}
	switch {
	case readErr != nil:
		fmt.Fprintf(io.err, "smsswatch replay: %s\n", sanitizeLine(readErr.Error()))
		return exitError
	case closeErr != nil:
		fmt.Fprintf(io.err, "smsswatch replay: %s\n", sanitizeLine(closeErr.Error()))
		return exitError
	case counts.violations.Load() > 0:
		return exitViolations
	}
	return exitOK
}
