package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
)

// progress shows how far a long read has got, on a terminal only (never
// on a pipe or a file): inputs, their size, events so far and events a
// second, redrawn in place on stderr.
type progress struct {
	w      io.Writer
	inputs int
	bytes  int64
	events atomic.Int64
	start  time.Time
	stop   chan struct{}
	done   chan struct{}
}

// progressEvery is how often the line is redrawn.
const progressEvery = 500 * time.Millisecond

// startProgress starts the progress line on w for paths, or returns nil
// when w is not a terminal.
func startProgress(w io.Writer, paths []string) *progress {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	p := &progress{w: w, inputs: len(paths), start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	for _, path := range paths {
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
			p.bytes += st.Size()
		}
	}
	go p.run()
	return p
}

// add counts one event (nil-safe: the caller need not test).
func (p *progress) add() {
	if p != nil {
		p.events.Add(1)
	}
}

func (p *progress) run() {
	defer close(p.done)
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		case <-t.C:
			fmt.Fprintf(p.w, "\r\x1b[K%s", p.line(time.Since(p.start)))
		}
	}
}

// line is the progress text after elapsed.
func (p *progress) line(elapsed time.Duration) string {
	n := p.events.Load()
	rate := float64(n) / max(elapsed.Seconds(), 1e-3)
	return fmt.Sprintf("smsswatch: %d input(s), %.1f MB, %d events, %.0f events/s, %s",
		p.inputs, float64(p.bytes)/1e6, n, rate, elapsed.Round(time.Second))
}

// end clears the line (nil-safe).
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}
