package stream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// The idle benchmark's children: this test binary run again with
// idleChildEnv naming what the child holds (idleKinds), connected to
// idleURLEnv, idle for idleSpanEnv.
const (
	idleChildEnv = "SMSSWATCH_IDLE_CHILD"
	idleURLEnv   = "SMSSWATCH_IDLE_URL"
	idleSpanEnv  = "SMSSWATCH_IDLE_SPAN"
)

// idleKinds are the children of BenchmarkIdleCPU, reported in this order:
// the Go runtime alone (no connection: the floor), a bare nats.go
// connection with nats.go's defaults, and the publisher: with its defaults
// (core NATS, a heartbeat every 10 s), without heartbeats, and on
// JetStream without heartbeats.
var idleKinds = []string{"runtime", "bare", "publisher", "publisher-nohb", "publisher-js"}

// TestMain runs the idle benchmark's child when this binary is one.
func TestMain(m *testing.M) {
	if kind := os.Getenv(idleChildEnv); kind != "" {
		if err := idleChild(kind, os.Getenv(idleURLEnv), os.Getenv(idleSpanEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "idle child:", kind+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkIdleCPU measures what a connected, idle publisher costs its
// host, against a bare nats.go connection to the same server. Each runs
// in a child process of its own (this test binary again), all children at
// once over the same interval, and each child reads its own CPU time
// (getrusage: user + system) across that interval; the in-process server
// runs in the parent, so its share is in no child's figure. Before the
// interval each child sent one message and had it confirmed (the
// publisher: one violation, acknowledged), then collected its garbage.
// The interval is b.N milliseconds. Reported, as % of one core (CPU time
// / wall time x 100): runtime-%core (the Go runtime, no connection),
// bare-%core, pub-%core (defaults: core NATS, heartbeat every 10 s),
// pub-nohb-%core, pub-js-%core (JetStream, no heartbeat), and
// ratio = pub / bare.
//
//	go test -run '^$' -bench IdleCPU -benchtime 60000x -count 3 ./stream/
func BenchmarkIdleCPU(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("CPU time is read with getrusage on linux only")
	}
	srv := startServer(b, natsserver.Config{JetStream: true})
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	span := time.Duration(b.N) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), span+time.Minute)
	defer cancel()

	type child struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Scanner
	}
	kids := make([]child, len(idleKinds))
	for i, kind := range idleKinds {
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), idleChildEnv+"="+kind, idleURLEnv+"="+srv.URL(), idleSpanEnv+"="+span.String())
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		kids[i] = child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	}
	line := func(k child, kind string) string {
		if !k.out.Scan() {
			b.Fatalf("idle child %s stopped: %v", kind, k.out.Err())
		}
		return k.out.Text()
	}
	for i, k := range kids {
		if s := line(k, idleKinds[i]); s != "ready" {
			b.Fatalf("idle child %s said %q", idleKinds[i], s)
		}
	}
	b.ResetTimer()
	for _, k := range kids { // all at once: the same interval
		if _, err := io.WriteString(k.in, "go\n"); err != nil {
			b.Fatal(err)
		}
	}
	pct := make([]float64, len(kids))
	for i, k := range kids {
		var cpu, wall int64
		if _, err := fmt.Sscan(line(k, idleKinds[i]), &cpu, &wall); err != nil || wall <= 0 {
			b.Fatalf("idle child %s: %v", idleKinds[i], err)
		}
		pct[i] = 100 * float64(cpu) / float64(wall)
	}
	b.StopTimer()
	for i, k := range kids {
		_ = k.in.Close()
		if err := k.cmd.Wait(); err != nil {
			b.Fatalf("idle child %s: %v", idleKinds[i], err)
		}
	}
	for i, kind := range idleKinds {
		b.ReportMetric(pct[i], strings.Replace(kind, "publisher", "pub", 1)+"-%core")
	}
	if pct[1] > 0 {
		b.ReportMetric(pct[2]/pct[1], "ratio")
	}
}

// idleChild is one child of BenchmarkIdleCPU: it connects as kind says,
// sends one message and has it confirmed, says "ready", waits for "go",
// stays idle for span and prints the CPU time and wall time that took (ns).
func idleChild(kind, url, spanText string) error {
	span, err := time.ParseDuration(spanText)
	if err != nil {
		return err
	}
	var done func()
	switch kind {
	case "runtime":
		done = func() {}
	case "bare":
		nc, err := nats.Connect(url)
		if err != nil {
			return err
		}
		if err := nc.Publish("idle.bare", []byte("x")); err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
		done = nc.Close
	case "publisher", "publisher-nohb", "publisher-js":
		cfg := Config{Conn: ConnConfig{URL: url}, Logger: zerolog.Nop(), Host: "idle-" + kind}
		if kind != "publisher" {
			cfg.Heartbeat = -1
		}
		cfg.JetStream = kind == "publisher-js"
		p, err := NewPublisher(cfg)
		if err != nil {
			return err
		}
		p.Violation(violation(0))
		for deadline := time.Now().Add(10 * time.Second); p.Stats().Published < 1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				return fmt.Errorf("not acknowledged: %+v", p.Stats())
			}
		}
		done = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Close(ctx)
		}
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	defer done()
	runtime.GC()
	debug.FreeOSMemory()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		return fmt.Errorf("no go: %v", in.Err())
	}
	c0, t0 := processCPU(), time.Now()
	time.Sleep(span)
	cpu, wall := processCPU()-c0, time.Since(t0)
	fmt.Println(cpu.Nanoseconds(), wall.Nanoseconds())
	return nil
}
