package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A confirmer learns which sent violations the server holds and marks them
// acknowledged in the window: core NATS by PING/PONG rounds (coreConfirm),
// JetStream by the stream's acks (jsConfirm). Its methods run on the
// publishing goroutine.
type confirmer interface {
	// ready reports whether violations can be sent (JetStream: the stream
	// is bound).
	ready() bool
	// replyTo returns the reply subject of the send with id ("": none).
	replyTo(id uint64) string
	// sent is told a violation is going into the window; first says the
	// window was empty.
	sent(first bool)
	// collect applies the confirmations that arrived.
	collect()
	// request asks for confirmation of what was sent.
	request()
	// tick runs on every turn of the loop: retries and timeouts that are
	// due by nowNs.
	tick()
	// deadline is when tick next has something to do, in ns since the
	// publisher started (0: never, until something else changes).
	deadline() int64
	// arm prepares for the goroutine to block, arranging to be woken when
	// confirmations arrive; false when enough are waiting already.
	arm() bool
	// reset is told the window was put back after err, to be sent again.
	reset(err error)
	// final confirms what it can before shutdown.
	final()
	// close releases what the confirmer holds on the connection.
	close()
}

// errNoResponders is an ack that says no stream listens on the subject.
var errNoResponders = errors.New("no stream answered (no responders)")

// errAckTimeout is an acknowledgement that did not come in time.
var errAckTimeout = errors.New("acknowledgement timed out")

// errUnreadableAck is an ack that is not JetStream's publish answer.
var errUnreadableAck = errors.New("jetstream: unreadable ack")

// errAckNoStream is an ack that names no stream: nothing stored it.
var errAckNoStream = errors.New("jetstream: ack names no stream")

// ---- core NATS ----

// Core NATS confirmation rounds: at most maxFlushes in flight, a new one
// while others are in flight only after flushEvery more violations.
const (
	maxFlushes = 4
	flushEvery = 128
)

// coreConfirm confirms by PING/PONG rounds: when a round returns on the
// same connection, everything sent before it reached the server. A round
// starts when none is in flight, or when enough was sent since the last
// one (rounds pipeline; their PONGs come back in order).
type coreConfirm struct {
	p       *Publisher
	results chan flushResult
	rounds  int    // in flight
	mark    uint64 // highest id a round in flight covers
	gen     uint64 // rounds of an earlier generation are stale
	winRC   uint64 // reconnect count when the window last became non-empty
}

type flushResult struct {
	gen  uint64 // gen when the round started
	mark uint64 // the last id it confirms
	rc   uint64 // reconnect count after it
	err  error
}

func newCoreConfirm(p *Publisher) *coreConfirm {
	return &coreConfirm{p: p, results: make(chan flushResult, maxFlushes)}
}

func (c *coreConfirm) ready() bool           { return true }
func (c *coreConfirm) replyTo(uint64) string { return "" }
func (c *coreConfirm) tick()                 {}
func (c *coreConfirm) deadline() int64       { return 0 }    // a round times out on its own
func (c *coreConfirm) arm() bool             { return true } // a round's end pokes
func (c *coreConfirm) close()                {}

func (c *coreConfirm) sent(first bool) {
	if first {
		// Rounds hold only if no reconnect happened since the oldest
		// unconfirmed violation was sent.
		c.winRC = c.p.nc.Stats().Reconnects
	}
}

func (c *coreConfirm) request() {
	p := c.p
	if p.win.len() == 0 || !p.connected {
		return
	}
	last := p.win.back().id
	if last <= c.mark || (c.rounds > 0 && (c.rounds >= maxFlushes || last-c.mark < flushEvery)) {
		return
	}
	c.rounds++
	c.mark = last
	r := flushResult{gen: c.gen, mark: last}
	nc, timeout := p.nc, p.cfg.AckTimeout
	go func() {
		r.err = nc.FlushTimeout(timeout)
		r.rc = nc.Stats().Reconnects
		c.results <- r // room: at most maxFlushes in flight
		p.poke()
	}()
}

func (c *coreConfirm) collect() {
	for {
		select {
		case r := <-c.results:
			c.onFlush(r)
		default:
			return
		}
	}
}

func (c *coreConfirm) onFlush(r flushResult) {
	p := c.p
	c.rounds--
	if r.gen != c.gen {
		return
	}
	if r.err == nil && r.rc != c.winRC {
		r.err = nats.ErrDisconnected // the round went over a new connection
	}
	if r.err != nil {
		p.trouble(r.err, true)
		return
	}
	p.backoff = 0
	p.win.ackUpTo(r.mark)
	p.popAcked()
}

func (c *coreConfirm) reset(error) {
	c.gen++
	c.mark = c.p.nextID
}

// final runs a last round.
func (c *coreConfirm) final() {
	p := c.p
	if p.nc.FlushTimeout(time.Second) == nil && p.nc.Stats().Reconnects == c.winRC {
		p.win.ackUpTo(p.win.back().id)
		p.popAcked()
	}
}

// ---- JetStream ----

// jsConfirm confirms by JetStream acks: each violation is sent with a
// reply subject of its own, on which the stream answers with a pubAck.
type jsConfirm struct {
	p      *Publisher
	js     jetstream.JetStream
	bound  bool
	prefix string // reply subjects: prefix + send id
	sub    *nats.Subscription

	// Acks, appended by the subscription's goroutine; wakeAt is how many
	// make it worth waking the publishing goroutine (0: don't).
	mu     sync.Mutex
	list   []ackResult
	spare  []ackResult
	wakeAt int

	ack pubAck // decoding scratch, the subscription's goroutine only
}

type ackResult struct {
	id  uint64
	err error
}

func newJSConfirm(p *Publisher) (*jsConfirm, error) {
	js, err := jetstream.New(p.nc)
	if err != nil {
		return nil, fmt.Errorf("stream: jetstream: %w", err)
	}
	c := &jsConfirm{
		p:      p,
		js:     js,
		prefix: nats.NewInbox() + ".",
		list:   make([]ackResult, 0, 2*p.cfg.MaxInflight),
		spare:  make([]ackResult, 0, 2*p.cfg.MaxInflight),
	}
	sub, err := p.nc.Subscribe(c.prefix+"*", c.onAckMsg)
	if err != nil {
		return nil, fmt.Errorf("stream: subscribe for acks: %w", err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	c.sub = sub
	return c, nil
}

func (c *jsConfirm) ready() bool { return c.bound }
func (c *jsConfirm) sent(bool)   {}
func (c *jsConfirm) request()    {}
func (c *jsConfirm) final()      {}
func (c *jsConfirm) close()      { _ = c.sub.Unsubscribe() }
func (c *jsConfirm) replyTo(id uint64) string {
	return c.prefix + strconv.FormatUint(id, 10)
}

func (c *jsConfirm) reset(err error) {
	if errors.Is(err, errNoResponders) {
		c.bound = false // the stream is gone (server lost its store?): bind again
	}
}

func (c *jsConfirm) arm() bool {
	n := c.p.win.len()
	if n == 0 {
		return true
	}
	// Wake for a quarter of the window's acks (or all of them), not for
	// each one.
	want := max(1, min(n, c.p.win.cap()/4))
	c.mu.Lock()
	ready := len(c.list) >= want
	if !ready {
		c.wakeAt = want
	}
	c.mu.Unlock()
	return !ready
}

// collect handles the acks that came in.
func (c *jsConfirm) collect() {
	c.mu.Lock()
	acks := c.list
	c.list = c.spare[:0]
	c.wakeAt = 0
	c.mu.Unlock()
	for _, a := range acks {
		c.onAck(a)
	}
	c.spare = acks[:0]
}

// onAck handles one acknowledgement.
func (c *jsConfirm) onAck(a ackResult) {
	p := c.p
	i := p.win.find(a.id)
	if i < 0 {
		return // stale: acknowledges a send that was already retried
	}
	if a.err != nil {
		p.trouble(a.err, true)
		return
	}
	p.win.at(i).acked = true
	p.backoff = 0
	p.popAcked()
}

func (c *jsConfirm) tick() {
	p := c.p
	if !c.bound && p.connected && p.nowNs >= p.retryAt {
		c.bind()
	}
	if p.win.len() > 0 && p.nowNs-p.win.front().sent > int64(p.cfg.AckTimeout) {
		p.trouble(errAckTimeout, true)
	}
}

func (c *jsConfirm) deadline() int64 {
	p := c.p
	var d int64
	if p.win.len() > 0 {
		d = p.win.front().sent + int64(p.cfg.AckTimeout) + 1 // tick's test is strict
	}
	if !c.bound && p.connected && p.retryAt > p.nowNs {
		d = earlier(d, p.retryAt) // bind again
	}
	return d
}

// bind finds the stream, creating it unless BindStream is set.
func (c *jsConfirm) bind() {
	p := c.p
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.js.Stream(ctx, p.cfg.Stream)
	if err == nil {
		if d := st.CachedInfo().Config.Duplicates; d < p.cfg.DuplicateWindow {
			p.log.Warn().Str("stream", p.cfg.Stream).Dur("duplicate_window", d).Dur("wanted", p.cfg.DuplicateWindow).
				Msg("the stream's duplicate window is shorter than the spool may hold alerts: after a longer outage a retried alert may be stored twice (raise the stream's duplicate window)")
		}
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) && !p.cfg.BindStream {
		_, err = c.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        p.cfg.Stream,
			Description: "smsswatch violations",
			Subjects:    []string{ViolationsWildcard(p.prefix)},
			Storage:     jetstream.FileStorage,
			Replicas:    p.cfg.Replicas,
			Duplicates:  p.cfg.DuplicateWindow,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
		if err == nil {
			p.log.Info().Str("stream", p.cfg.Stream).Str("subjects", ViolationsWildcard(p.prefix)).Msg("created JetStream stream")
		}
	}
	if err != nil {
		if p.errLog.allow(10 * time.Second) {
			p.log.Error().Err(p.cfg.Conn.scrub(err)).Str("stream", p.cfg.Stream).Msg("JetStream stream not available; spooling")
		}
		p.backoff = min(max(2*p.backoff, 250*time.Millisecond), 5*time.Second)
		p.retryAt = p.now() + int64(p.backoff)
		return
	}
	c.bound = true
}

// onAckMsg runs on the subscription's goroutine for every ack.
func (c *jsConfirm) onAckMsg(m *nats.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(c.prefix):], 10, 64)
	if err != nil {
		return
	}
	res := ackResult{id: id, err: c.ack.decode(m)}
	c.mu.Lock()
	c.list = append(c.list, res)
	wake := c.wakeAt > 0 && len(c.list) >= c.wakeAt
	if wake {
		c.wakeAt = 0
	}
	c.mu.Unlock()
	if wake {
		c.p.poke()
	}
}

// pubAck is JetStream's answer to a publish: the stream and sequence that
// stored it (Duplicate: it was stored before), or an error.
type pubAck struct {
	Stream    json.RawMessage `json:"stream"` // raw: reuses its buffer, no string per ack
	Seq       uint64          `json:"seq"`
	Duplicate bool            `json:"duplicate"`
	Error     *ackError       `json:"error"`
}

// ackError is the error form of an ack:
// {"error":{"code":503,"err_code":10077,"description":"..."}}.
type ackError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *ackError) Error() string {
	return fmt.Sprintf("jetstream: %s (code %d/%d)", e.Description, e.Code, e.ErrCode)
}

// decode judges the ack m: nil when a stream stored the violation, else
// errNoResponders, an *ackError, errAckNoStream or errUnreadableAck. a is
// reused from ack to ack.
func (a *pubAck) decode(m *nats.Msg) error {
	if len(m.Data) == 0 {
		if m.Header.Get("Status") == "503" {
			return errNoResponders
		}
		return errUnreadableAck
	}
	a.Stream, a.Seq, a.Duplicate, a.Error = a.Stream[:0], 0, false, nil
	if err := json.Unmarshal(m.Data, a); err != nil {
		return fmt.Errorf("%w: %w", errUnreadableAck, err)
	}
	switch {
	case a.Error != nil:
		return a.Error
	case len(a.Stream) < 3 || a.Stream[0] != '"':
		return errAckNoStream // no stream, an empty or a non-string one
	case a.Seq == 0:
		return errUnreadableAck // a stored message has a sequence number
	}
	return nil
}
