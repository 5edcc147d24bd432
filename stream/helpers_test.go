package stream

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream/internal/sample"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startServer(t testing.TB, cfg natsserver.Config) *natsserver.Server {
	t.Helper()
	s, err := natsserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// testLog logs to the test's output.
func testLog(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// violation returns the i-th test violation; its dedupe key is i+1.
func violation(i int) *detect.Violation {
	v := sample.Violation()
	v.DedupeKey = uint64(i) + 1
	v.Message = "violation " + strconv.Itoa(i)
	v.Process.PID = uint32(i)
	return v
}

func newPublisher(t testing.TB, cfg Config) *Publisher {
	t.Helper()
	p, err := NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func closePublisher(t testing.TB, p *Publisher, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// stored is one message read back from a stream.
type stored struct {
	subject string
	id      string
	data    []byte
}

// readStream returns every message of stream in order.
func readStream(t testing.TB, url, stream string, want int) []stored {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var st jetstream.Stream
	eventually(t, 10*time.Second, "stream info", func() bool {
		st, err = js.Stream(ctx, stream)
		return err == nil
	})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Msgs)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for len(out) < n {
		batch, err := cons.Fetch(min(n-len(out), 1000), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, stored{subject: m.Subject(), id: m.Headers().Get(HeaderMsgID), data: m.Data()})
		}
		if err := batch.Error(); err != nil && ctx.Err() != nil {
			t.Fatalf("fetch: %v (got %d of %d)", err, len(out), n)
		}
	}
	return out
}

// checkAll checks that msgs hold exactly the violations 0..n-1, each once;
// ordered also checks their order.
func checkAll(t testing.TB, msgs []stored, n int, ordered bool) {
	t.Helper()
	seen := make(map[string]int, n)
	for i, m := range msgs {
		if prev, dup := seen[m.id]; dup {
			t.Errorf("message id %s stored twice (at %d and %d)", m.id, prev, i)
		}
		seen[m.id] = i
	}
	missing := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%016x", uint64(i)+1)
		if _, ok := seen[id]; !ok {
			if missing < 5 {
				t.Errorf("violation %d (id %s) missing", i, id)
			}
			missing++
		}
	}
	if missing > 0 || len(msgs) != n {
		t.Fatalf("%d stored, %d missing, want %d", len(msgs), missing, n)
	}
	if ordered {
		for i, m := range msgs {
			if want := fmt.Sprintf("%016x", uint64(i)+1); m.id != want {
				t.Fatalf("message %d has id %s, want %s (out of order)", i, m.id, want)
			}
		}
	}
}

// collector gathers core NATS messages by id.
type collector struct {
	mu   sync.Mutex
	ids  map[string]int
	msgs []*nats.Msg
}

func collect(t testing.TB, nc *nats.Conn, subject string) *collector {
	t.Helper()
	c := &collector{ids: map[string]int{}}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		c.mu.Lock()
		c.ids[m.Header.Get(HeaderMsgID)]++
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

var _ = etw.SourceETW

// syncBuffer is a goroutine-safe output buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

func (s *syncBuffer) lines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.b {
		if c == '\n' {
			n++
		}
	}
	return n
}
