package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/detect"
)

// Defaults of Config.
const (
	DefaultStream          = "SMSSWATCH"
	DefaultQueueSize       = 4096
	DefaultMaxInflight     = 1024
	DefaultAckTimeout      = 5 * time.Second
	DefaultDuplicateWindow = 24 * time.Hour
	DefaultSpoolMaxBytes   = 256 << 20
	DefaultHeartbeat       = 10 * time.Second
)

// HeaderMsgID is the NATS header carrying the violation's dedupe key (16
// hex digits). JetStream drops a message whose ID it has already stored
// within the stream's duplicate window, so retries never duplicate.
const HeaderMsgID = "Nats-Msg-Id"

// Counters are the sensor pipeline's own counters, reported in every
// heartbeat next to the publisher's.
type Counters struct {
	// Events is how many events the sources delivered.
	Events uint64
	// Violations is how many violations the engines emitted.
	Violations uint64
	// Drops is how many events the pipeline dropped (queue full).
	Drops uint64
	// LostEvents is how many events the source itself lost (ETW).
	LostEvents uint64
	// QueueDepth is how many events wait in the pipeline's queue.
	QueueDepth int
}

// Config configures a Publisher. The zero value of every field but Conn
// means its default.
type Config struct {
	// Conn says how to reach NATS.
	Conn ConnConfig
	// SubjectPrefix is the first subject token(s) (default "smsswatch").
	SubjectPrefix string
	// Host names this sensor in heartbeats (default: os.Hostname).
	Host string
	// Version is reported in heartbeats.
	Version string
	// JetStream publishes into a stream and waits for its acks; otherwise
	// core NATS is used and a PING/PONG flush confirms receipt.
	JetStream bool
	// Stream is the JetStream stream (default "SMSSWATCH").
	Stream string
	// BindStream only binds to an existing stream, never creates it.
	BindStream bool
	// Replicas of a stream the publisher creates (default 1).
	Replicas int
	// DuplicateWindow of a stream the publisher creates (default 24 h):
	// it must outlast any outage the spool rides out, or an alert sent
	// before the outage whose ack was lost is stored twice when retried.
	// Bound to an existing stream with a shorter window, the publisher
	// warns.
	DuplicateWindow time.Duration
	// AckTimeout is how long an unacknowledged violation waits before all
	// unacknowledged ones are sent again (default 5 s).
	AckTimeout time.Duration
	// QueueSize bounds the violations waiting between the engine and the
	// publishing goroutine; beyond it Violation drops (default 4096).
	QueueSize int
	// MaxInflight bounds the violations sent and not yet acknowledged
	// (default 1024, at most QueueSize/2).
	MaxInflight int
	// SpoolDir is the on-disk spool; "" keeps the backlog in memory only
	// (lost when the process ends).
	SpoolDir string
	// SpoolMaxBytes bounds the spool; when full the oldest violations are
	// dropped (default 256 MiB).
	SpoolMaxBytes int64
	// Heartbeat is the heartbeat period (default 10 s; negative: none).
	Heartbeat time.Duration
	// Counters, if set, returns the pipeline's counters for heartbeats. It
	// is called from the publisher's goroutine and must be safe for that.
	Counters func() Counters
	// Logger receives connection changes and errors, never secrets and
	// never one line per violation.
	Logger zerolog.Logger
}

func (c *Config) setDefaults() error {
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if err := ValidatePrefix(c.SubjectPrefix); err != nil {
		return err
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	c.QueueSize = max(c.QueueSize, 4)
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	c.MaxInflight = max(min(c.MaxInflight, c.QueueSize/2), 1)
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	return c.Conn.Validate()
}

// Stats is a snapshot of a Publisher's counters.
type Stats struct {
	// Violations is how many violations were handed to Violation.
	Violations uint64
	// Published is how many were acknowledged (JetStream ack, or a
	// confirmed flush for core NATS).
	Published uint64
	// Dropped is how many were dropped because the queue was full or the
	// publisher closed.
	Dropped uint64
	// Rejected is how many the server refused for good (too large).
	Rejected uint64
	// Truncated is how many alerts had fields cut to fit the server's max
	// payload (smsswatch.truncated names them).
	Truncated uint64
	// Oversized is how many alerts did not fit the max payload even
	// truncated; they are counted in Dropped too.
	Oversized uint64
	// SpoolDropped is how many spooled violations were dropped, oldest
	// first, to keep the spool within its size (or lost to corruption).
	SpoolDropped uint64
	// SpoolDepth and SpoolBytes are what waits in the spool.
	SpoolDepth, SpoolBytes int64
	// QueueDepth is how many violations wait in the queue.
	QueueDepth int
	// Inflight is how many were sent and not yet acknowledged.
	Inflight int
	// Retries is how many times unacknowledged violations were sent again
	// (after a disconnect, an error or an ack timeout).
	Retries uint64
	// Connected says whether the connection is up.
	Connected bool
}

// item is one encoded violation: buf holds the subject then the payload.
type item struct {
	buf       []byte
	subjLen   int
	key       uint64
	hex       [16]byte // key in hex, the Nats-Msg-Id header while sending
	id        uint64   // send sequence (reply subject token for acks)
	pos       spoolPos // end of its record, when fromSpool
	sent      int64    // when sent, ns since the publisher started
	fromSpool bool
	acked     bool
	rejected  bool
}

// Publisher publishes violations to NATS. It implements detect.Sink: the
// engine's call encodes the violation into an owned buffer and hands it to
// the publishing goroutine through a bounded queue, never blocking; a full
// queue drops (counted). The publishing goroutine sends, awaits
// acknowledgements, and while NATS cannot be reached keeps violations in
// the spool, which it drains in order once it can.
type Publisher struct {
	cfg    Config
	log    zerolog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string
	t0     time.Time

	// Engine side: slots move free -> (the engine's call encodes) ->
	// pending -> the publishing goroutine -> free. pending is a lock-free
	// ring; free is a stack under prodMu (last released, first reused:
	// its buffer is still in the cache), refilled in batches. prodMu also
	// serialises several engines, and Close. wake is poked only when the
	// publishing goroutine said it sleeps.
	prodMu   sync.Mutex
	closed   bool    // under prodMu
	free     []*item // under prodMu
	pending  *slotRing
	sleeping atomic.Bool
	received atomic.Uint64
	fit      payloadFit // alerts cut to the server's max payload (alert_fit.go)
	dropped  atomic.Uint64

	// Signals into the publishing goroutine.
	wake chan struct{}
	// freed is signalled (without blocking) when slots return to the
	// engine side, for ViolationWait.
	freed chan struct{}
	// JetStream acks, appended by the ack subscription; ackWake is how
	// many make it worth waking the publishing goroutine (0: don't).
	ackMu    sync.Mutex
	ackList  []ackResult
	ackSpare []ackResult
	ackWake  int
	flushed  chan flushResult
	closeCh  chan context.Context
	stopped  chan struct{}
	discGen  atomic.Uint64

	// Snapshot for Stats, written by the publishing goroutine.
	sPublished, sRejected, sSpoolDropped, sRetries atomic.Uint64
	sSpoolDepth, sSpoolBytes, sInflight            atomic.Int64

	// Owned by the publishing goroutine.
	back      backlog
	win       ring
	toFree    []*item // released slots, returned to free in one go
	nowNs     int64
	winRC     uint64 // reconnect count when the window last became non-empty
	spare     []*item
	nextID    uint64
	seenDisc  uint64
	connected bool
	ready     bool // JetStream stream bound (always true for core NATS)
	backoff   time.Duration
	retryAt   int64
	ackPrefix string
	ackSub    *nats.Subscription
	msg       nats.Msg
	msgID     [1]string
	subjects  map[string]string
	flushes   int    // PING/PONG rounds in flight (core NATS)
	flushMark uint64 // highest id a round in flight covers
	flushGen  uint64
	throttled bool // the window filled up; send again when it is 3/4 empty
	published uint64
	rejected  uint64
	retries   uint64
	hbBuf     []byte
	closeErr  error
	errLog    limiter
	closing   bool
}

var _ detect.Sink = (*Publisher)(nil)

type ackResult struct {
	id  uint64
	err error
}

type flushResult struct {
	gen  uint64 // flushGen when the round started
	mark uint64 // the last id it confirms
	rc   uint64 // reconnect count after it
	err  error
}

// closedChan is always ready.
var closedChan = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// errNoResponders is an ack that says no stream listens on the subject.
var errNoResponders = errors.New("no stream answered (no responders)")

// errAckTimeout is an acknowledgement that did not come in time.
var errAckTimeout = errors.New("acknowledgement timed out")

// itemBufSize is the initial buffer of each queue slot: an alert is
// typically 1-2 KB.
const itemBufSize = 2048

// maxKeptBuf is the largest buffer a slot keeps after a huge alert.
const maxKeptBuf = 64 << 10

// NewPublisher connects to NATS and starts publishing. A server that does
// not answer yet is not an error (violations are spooled until it does);
// refused credentials (ErrAuth) and invalid settings (ErrConfig) are.
// Previously spooled violations in cfg.SpoolDir are sent first.
func NewPublisher(cfg Config) (*Publisher, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Publisher{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "publisher").Logger(),
		prefix:   cfg.SubjectPrefix,
		t0:       time.Now(),
		free:     make([]*item, 0, cfg.QueueSize),
		toFree:   make([]*item, 0, cfg.QueueSize),
		pending:  newSlotRing(cfg.QueueSize),
		wake:     make(chan struct{}, 1),
		freed:    make(chan struct{}, 1),
		ackList:  make([]ackResult, 0, 2*cfg.MaxInflight),
		ackSpare: make([]ackResult, 0, 2*cfg.MaxInflight),
		flushed:  make(chan flushResult, maxFlushes),
		closeCh:  make(chan context.Context, 1),
		stopped:  make(chan struct{}),
		win:      newRing(cfg.MaxInflight),
		subjects: make(map[string]string),
		ready:    !cfg.JetStream,
	}
	slab := make([]byte, cfg.QueueSize*itemBufSize)
	for i := 0; i < cfg.QueueSize; i++ {
		p.free = append(p.free, &item{buf: slab[i*itemBufSize : i*itemBufSize : (i+1)*itemBufSize]})
	}
	if cfg.SpoolDir != "" {
		s, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes)
		if err != nil {
			return nil, err
		}
		p.back = s
		if n, b := s.depth(); n > 0 {
			p.log.Info().Int64("violations", n).Int64("bytes", b).Str("dir", cfg.SpoolDir).Msg("spool holds violations from an earlier run; sending them first")
		}
	} else {
		p.back = newMemBacklog(cfg.SpoolMaxBytes)
	}
	p.msgID[0] = ""
	p.msg.Header = nats.Header{HeaderMsgID: p.msgID[:]}
	p.ackPrefix = nats.NewInbox() + "."

	hooks := connHooks{
		connected: p.poke,
		disconnected: func() {
			p.discGen.Add(1)
			p.poke()
		},
	}
	nc, err := dial(&p.cfg.Conn, p.log, hooks, true, nats.ReconnectBufSize(-1), nats.PingInterval(10*time.Second), nats.MaxPingsOutstanding(2))
	if err != nil {
		_ = p.back.close()
		return nil, err
	}
	p.nc = nc
	p.fit.update(nc)
	if cfg.JetStream {
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			_ = p.back.close()
			return nil, fmt.Errorf("stream: jetstream: %w", err)
		}
		p.js = js
		sub, err := nc.Subscribe(p.ackPrefix+"*", p.onAckMsg)
		if err != nil {
			nc.Close()
			_ = p.back.close()
			return nil, fmt.Errorf("stream: subscribe for acks: %w", err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		p.ackSub = sub
	}
	go p.run()
	return p, nil
}

// poke wakes the publishing goroutine.
func (p *Publisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Violation encodes v and queues it for publishing. It never blocks and,
// once the queue slots have their buffers, does not allocate; when the
// queue is full, or after Close, v is dropped and counted. It is safe for
// concurrent use by several engines.
func (p *Publisher) Violation(v *detect.Violation) {
	p.received.Add(1)
	p.prodMu.Lock()
	var it *item
	if n := len(p.free); n > 0 && !p.closed {
		it = p.free[n-1]
		p.free = p.free[:n-1]
	}
	p.prodMu.Unlock()
	if it == nil {
		p.dropped.Add(1)
		return
	}

	b := appendViolationSubject(it.buf[:0], p.prefix, v.Host, v.Rule.ID())
	it.subjLen = len(b)
	var fits bool
	it.buf, fits = p.fit.encode(b, v) // truncated to the server's max payload
	it.key = v.DedupeKey
	if !fits { // too large even truncated: a counted drop
		p.prodMu.Lock()
		p.free = append(p.free, it)
		p.prodMu.Unlock()
		p.dropped.Add(1)
		return
	}

	p.prodMu.Lock()
	if p.closed { // closed while encoding: the publishing goroutine may be gone
		p.prodMu.Unlock()
		p.dropped.Add(1)
		return // the slot is not needed any more
	}
	p.pending.push(it) // has room: it holds every slot
	p.prodMu.Unlock()
	// The publishing goroutine sets sleeping, then looks at pending once
	// more before it blocks: it sees this violation or it is poked.
	if p.sleeping.Load() && p.sleeping.CompareAndSwap(true, false) {
		p.poke()
	}
}

// Stats returns a snapshot of the publisher's counters.
func (p *Publisher) Stats() Stats {
	return Stats{
		Violations:   p.received.Load(),
		Published:    p.sPublished.Load(),
		Dropped:      p.dropped.Load(),
		Rejected:     p.sRejected.Load(),
		Truncated:    p.fit.truncated.Load(),
		Oversized:    p.fit.oversized.Load(),
		SpoolDropped: p.sSpoolDropped.Load(),
		SpoolDepth:   p.sSpoolDepth.Load(),
		SpoolBytes:   p.sSpoolBytes.Load(),
		QueueDepth:   p.pending.len(),
		Inflight:     int(p.sInflight.Load()),
		Retries:      p.sRetries.Load(),
		Connected:    p.nc != nil && p.nc.IsConnected(),
	}
}

// Close stops accepting violations, delivers what it can until ctx is done
// (not waiting at all when NATS is unreachable) and writes everything else
// to the spool, where the next Publisher on the same directory finds it.
// Without a spool directory, what could not be delivered is lost and Close
// returns an error wrapping ErrUndelivered. Violation calls after Close are
// dropped (counted).
func (p *Publisher) Close(ctx context.Context) error {
	p.prodMu.Lock()
	if p.closed {
		p.prodMu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.prodMu.Unlock()
	p.closeCh <- ctx
	<-p.stopped
	p.nc.Close()
	return p.closeErr
}

// ---- the publishing goroutine ----

func (p *Publisher) now() int64 { return int64(time.Since(p.t0)) }

// process sends (or spools) the queued violations while it can.
func (p *Publisher) process() {
	for {
		if p.canSend() && !p.room() {
			return // wait for acks; the rest waits its turn
		}
		it := p.pending.pop()
		if it == nil {
			return
		}
		p.accept(it)
	}
}

// sleep reports whether the goroutine may block: nothing is waiting that
// it could handle now. When it may, the engine side will wake it.
func (p *Publisher) sleep() bool {
	blocked := p.canSend() && !p.room()
	if p.js != nil && p.win.len() > 0 {
		// Wake for a quarter of the window's acks (or all of them), not
		// for each one.
		want := max(1, min(p.win.len(), len(p.win.buf)/4))
		p.ackMu.Lock()
		ready := len(p.ackList) >= want
		if !ready {
			p.ackWake = want
		}
		p.ackMu.Unlock()
		if ready {
			return false
		}
	}
	if blocked {
		return true // blocked on acks, not on work: no need to be poked
	}
	if p.pending.len() > 0 {
		return false
	}
	p.sleeping.Store(true)
	if p.pending.len() > 0 { // queued meanwhile: the engine may not have seen sleeping
		p.sleeping.Store(false)
		return false
	}
	return true
}

// room reports whether the window takes more: not full, and not refilling
// after it was (which would cost a wake-up per ack).
func (p *Publisher) room() bool {
	if p.throttled && p.win.len() <= len(p.win.buf)*3/4 {
		p.throttled = false
	}
	if p.win.full() {
		p.throttled = true
	}
	return !p.throttled
}

// takeAcks handles the acks that came in.
func (p *Publisher) takeAcks() {
	if p.js == nil {
		return
	}
	p.ackMu.Lock()
	acks := p.ackList
	p.ackList = p.ackSpare[:0]
	p.ackWake = 0
	p.ackMu.Unlock()
	for _, a := range acks {
		p.onAck(a)
	}
	p.ackSpare = acks[:0]
}

func (p *Publisher) run() {
	defer close(p.stopped)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var hb <-chan time.Time
	if p.cfg.Heartbeat > 0 {
		t := time.NewTicker(p.cfg.Heartbeat)
		defer t.Stop()
		hb = t.C
	}
	var closeDone <-chan struct{}
	lastSync := time.Now()
	for {
		p.nowNs = p.now()
		p.checkConn()
		p.takeAcks()
		p.drain()
		p.process()
		p.maybeFlush()
		p.returnFree()
		p.snapshot()
		if p.closing && p.finished() {
			break
		}
		// Block only when there is nothing to do; otherwise just look at
		// the signals (select picks fairly among ready cases, so ticks and
		// heartbeats are not starved by a busy stream).
		block := p.sleep()
		busy, wake := closedChan, (<-chan struct{})(nil)
		if block {
			busy, wake = nil, p.wake
		}
		select {
		case <-busy:
		case <-wake:
		case r := <-p.flushed:
			p.onFlush(r)
		case now := <-tick.C:
			p.nowNs = p.now()
			p.onTick()
			if now.Sub(lastSync) >= time.Second {
				lastSync = now
				if err := p.back.sync(); err != nil && p.errLog.allow(10*time.Second) {
					p.log.Error().Err(err).Msg("spool")
				}
			}
		case <-hb:
			p.heartbeat()
		case ctx := <-p.closeCh:
			p.closing = true
			closeDone = ctx.Done()
		case <-closeDone:
			p.shutdown()
			return
		}
		if block {
			p.sleeping.Store(false)
		}
	}
	p.shutdown()
}

// finished reports, while closing, that nothing more can usefully be done:
// everything was delivered, or NATS is unreachable (Close does not wait
// for a reconnect).
func (p *Publisher) finished() bool {
	if p.pending.len() == 0 && p.win.len() == 0 && !p.back.unread() {
		if n, _ := p.back.depth(); n == 0 {
			return true
		}
	}
	return !p.connected
}

// checkConn notices disconnects: everything unacknowledged is sent again.
func (p *Publisher) checkConn() {
	g := p.discGen.Load()
	disc := g != p.seenDisc
	if disc {
		p.seenDisc = g
		if p.win.len() > 0 {
			p.trouble(nats.ErrDisconnected, false)
		}
	}
	was := p.connected
	p.connected = p.nc.IsConnected()
	if p.connected && (!was || disc) {
		p.fit.update(p.nc) // a new connection, maybe to another server
	}
}

func (p *Publisher) canSend() bool {
	return p.connected && p.ready && p.nowNs >= p.retryAt
}

// drain sends spooled violations, oldest first, while there is room.
func (p *Publisher) drain() {
	for p.canSend() && p.room() && p.back.unread() {
		it := p.spareItem()
		ok, err := p.back.next(it)
		if err != nil || !ok {
			p.spare = append(p.spare, it)
			if err != nil && p.errLog.allow(10*time.Second) {
				p.log.Error().Err(err).Msg("spool read")
			}
			return
		}
		it.fromSpool = true
		if !p.send(it) {
			return
		}
	}
}

func (p *Publisher) spareItem() *item {
	if n := len(p.spare); n > 0 {
		it := p.spare[n-1]
		p.spare = p.spare[:n-1]
		return it
	}
	return &item{buf: make([]byte, 0, itemBufSize)}
}

// accept takes one violation from the queue: sent at once when nothing is
// waiting before it, otherwise spooled behind what is.
func (p *Publisher) accept(it *item) {
	if p.canSend() && p.room() && !p.back.unread() {
		p.send(it)
		return
	}
	p.spool(it)
	p.release(it)
}

func (p *Publisher) spool(it *item) {
	if err := p.back.append(it.key, it.buf[:it.subjLen], it.buf[it.subjLen:]); err != nil {
		if p.errLog.allow(10 * time.Second) {
			p.log.Error().Err(err).Msg("spool write failed; violation dropped")
		}
	}
}

// release returns an item to where it came from.
func (p *Publisher) release(it *item) {
	it.acked, it.rejected = false, false
	if it.fromSpool {
		it.fromSpool = false
		if cap(it.buf) > maxKeptBuf {
			it.buf = make([]byte, 0, itemBufSize)
		}
		p.spare = append(p.spare, it)
		return
	}
	if cap(it.buf) > maxKeptBuf {
		it.buf = make([]byte, 0, itemBufSize)
	}
	p.toFree = append(p.toFree, it)
}

// returnFree gives released slots back to the engine side.
func (p *Publisher) returnFree() {
	if len(p.toFree) == 0 {
		return
	}
	p.prodMu.Lock()
	p.free = append(p.free, p.toFree...)
	p.prodMu.Unlock()
	clear(p.toFree)
	p.toFree = p.toFree[:0]
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// ViolationWait is Violation for a producer that can wait, as a replay
// of recorded data can: while every slot of the queue is taken it waits
// for one instead of dropping, until ctx is done or the publisher closes
// (then the alert is a counted drop, as Violation would count it). The
// live sensor uses Violation: its engine must never block.
func (p *Publisher) ViolationWait(ctx context.Context, v *detect.Violation) error {
	for {
		p.prodMu.Lock()
		n, closed := len(p.free), p.closed
		p.prodMu.Unlock()
		if n > 0 || closed {
			p.Violation(v)
			if closed {
				return ErrClosed
			}
			return nil
		}
		if p.sleeping.Load() && p.sleeping.CompareAndSwap(true, false) {
			p.poke()
		}
		select {
		case <-p.freed:
		case <-ctx.Done():
			p.Violation(v) // counted as dropped: no slot
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// subject returns it's subject as a string, cached.
func (p *Publisher) subject(it *item) string {
	b := it.buf[:it.subjLen]
	if s, ok := p.subjects[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.subjects) < 4096 {
		p.subjects[s] = s
	}
	return s
}

// send publishes it and puts it in the window; false when it could not be
// sent (it is then spooled or dropped).
func (p *Publisher) send(it *item) bool {
	p.nextID++
	it.id = p.nextID
	it.acked = false
	// The header value borrows it.hex: PublishMsg copies it into the
	// connection's buffer before it returns, and it stays untouched until
	// the slot is released. No string is allocated per violation.
	appendHex16(it.hex[:0], it.key)
	p.msgID[0] = unsafe.String(&it.hex[0], len(it.hex))
	p.msg.Subject = p.subject(it)
	p.msg.Data = it.buf[it.subjLen:]
	p.msg.Reply = ""
	if p.js != nil {
		p.msg.Reply = p.ackPrefix + strconv.FormatUint(it.id, 10)
	}
	err := p.nc.PublishMsg(&p.msg)
	p.msg.Data, p.msgID[0] = nil, ""
	if err != nil {
		if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrHeadersNotSupported) {
			p.rejected++
			if p.errLog.allow(10 * time.Second) {
				p.log.Error().Err(err).Int("bytes", len(it.buf)).Msg("NATS refused a violation; dropped")
			}
			if it.fromSpool {
				p.win.push(it) // keep the spool's commit order
				it.acked, it.rejected = true, true
				p.popAcked()
			} else {
				p.release(it)
			}
			return true
		}
		// Not connected after all: keep it, in order.
		p.trouble(err, true)
		if !it.fromSpool {
			p.spool(it)
		}
		p.release(it)
		return false
	}
	it.sent = p.nowNs
	if p.win.len() == 0 && p.js == nil {
		// Confirmation rounds hold only if no reconnect happened since
		// the oldest unconfirmed violation was sent.
		p.winRC = p.nc.Stats().Reconnects
	}
	p.win.push(it)
	return true
}

// trouble handles a failed send, a negative or missing ack, or a
// disconnect: every unacknowledged violation goes back into the backlog,
// in order, to be sent again.
func (p *Publisher) trouble(err error, backoff bool) {
	p.retries++
	if p.errLog.allow(10*time.Second) && !errors.Is(err, nats.ErrDisconnected) {
		p.log.Warn().Err(p.cfg.Conn.scrub(err)).Int("unacknowledged", p.win.len()).Msg("publish trouble; resending unacknowledged violations")
	}
	for p.win.len() > 0 {
		it := p.win.pop()
		if !it.fromSpool && !it.acked {
			p.spool(it)
		}
		if !it.fromSpool && it.acked {
			p.published++
		}
		p.release(it)
	}
	p.back.rewind()
	p.flushGen++
	p.flushMark = p.nextID
	if errors.Is(err, errNoResponders) && p.js != nil {
		p.ready = false // the stream is gone (server lost its store?): bind again
	}
	if backoff {
		p.backoff = min(max(2*p.backoff, 100*time.Millisecond), 5*time.Second)
		p.retryAt = p.now() + int64(p.backoff)
	}
}

// onAck handles one JetStream acknowledgement.
func (p *Publisher) onAck(a ackResult) {
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

// popAcked retires the acknowledged violations at the front of the window.
func (p *Publisher) popAcked() {
	for p.win.len() > 0 && p.win.front().acked {
		it := p.win.pop()
		if it.fromSpool {
			p.back.commit(it.pos)
		}
		if !it.rejected {
			p.published++
		}
		p.release(it)
	}
}

// maybeFlush starts a PING/PONG round for core NATS: when it returns on
// the same connection, everything sent before it reached the server. A
// round starts when none is in flight, or when enough was sent since the
// last one (rounds pipeline; their PONGs come back in order).
func (p *Publisher) maybeFlush() {
	if p.js != nil || p.win.len() == 0 || !p.connected {
		return
	}
	last := p.win.back().id
	if last <= p.flushMark || (p.flushes > 0 && (p.flushes >= maxFlushes || last-p.flushMark < flushEvery)) {
		return
	}
	p.flushes++
	p.flushMark = last
	r := flushResult{gen: p.flushGen, mark: last}
	nc, timeout := p.nc, p.cfg.AckTimeout
	go func() {
		r.err = nc.FlushTimeout(timeout)
		r.rc = nc.Stats().Reconnects
		p.flushed <- r
	}()
}

// Core NATS confirmation rounds: at most maxFlushes in flight, a new one
// while others are in flight only after flushEvery more violations.
const (
	maxFlushes = 4
	flushEvery = 128
)

func (p *Publisher) onFlush(r flushResult) {
	p.flushes--
	if r.gen != p.flushGen {
		return
	}
	if r.err == nil && r.rc != p.winRC {
		r.err = nats.ErrDisconnected // the round went over a new connection
	}
	if r.err != nil {
		p.trouble(r.err, true)
		return
	}
	p.backoff = 0
	for i := 0; i < p.win.len() && p.win.at(i).id <= r.mark; i++ {
		p.win.at(i).acked = true
	}
	p.popAcked()
}

func (p *Publisher) onTick() {
	if p.js != nil && !p.ready && p.connected && p.nowNs >= p.retryAt {
		p.bindStream()
	}
	if p.win.len() > 0 && p.js != nil && p.nowNs-p.win.front().sent > int64(p.cfg.AckTimeout) {
		p.trouble(errAckTimeout, true)
	}
}

// bindStream finds the stream, creating it unless BindStream is set.
func (p *Publisher) bindStream() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := p.js.Stream(ctx, p.cfg.Stream)
	if err == nil {
		if d := st.CachedInfo().Config.Duplicates; d < p.cfg.DuplicateWindow {
			p.log.Warn().Str("stream", p.cfg.Stream).Dur("duplicate_window", d).Dur("wanted", p.cfg.DuplicateWindow).
				Msg("the stream's duplicate window is shorter than the spool may hold alerts: after a longer outage a retried alert may be stored twice (raise the stream's duplicate window)")
		}
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) && !p.cfg.BindStream {
		_, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
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
	p.ready = true
}

// onAckMsg runs on the subscription's goroutine for every JetStream ack.
func (p *Publisher) onAckMsg(m *nats.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(p.ackPrefix):], 10, 64)
	if err != nil {
		return
	}
	res := ackResult{id: id}
	switch {
	case len(m.Data) == 0 && m.Header.Get("Status") == "503":
		res.err = errNoResponders
	case bytes.Contains(m.Data, []byte(`"error"`)):
		var r struct {
			Error struct {
				Code        int    `json:"code"`
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if json.Unmarshal(m.Data, &r) == nil {
			res.err = fmt.Errorf("jetstream: %s (code %d/%d)", r.Error.Description, r.Error.Code, r.Error.ErrCode)
		} else {
			res.err = errors.New("jetstream: unreadable ack")
		}
	case !bytes.Contains(m.Data, []byte(`"seq"`)):
		res.err = errors.New("jetstream: unreadable ack")
	}
	p.ackMu.Lock()
	p.ackList = append(p.ackList, res)
	wake := p.ackWake > 0 && len(p.ackList) >= p.ackWake
	if wake {
		p.ackWake = 0
	}
	p.ackMu.Unlock()
	if wake {
		p.poke()
	}
}

// snapshot publishes the goroutine's counters for Stats.
func (p *Publisher) snapshot() {
	n, b := p.back.depth()
	p.sPublished.Store(p.published)
	p.sRejected.Store(p.rejected)
	p.sRetries.Store(p.retries)
	p.sSpoolDropped.Store(p.back.dropped())
	p.sSpoolDepth.Store(n)
	p.sSpoolBytes.Store(b)
	p.sInflight.Store(int64(p.win.len()))
}

// shutdown persists what was not delivered.
func (p *Publisher) shutdown() {
	if p.js == nil && p.win.len() > 0 && p.nc.IsConnected() {
		// A last confirmation round for core NATS.
		if p.nc.FlushTimeout(time.Second) == nil && p.nc.Stats().Reconnects == p.winRC {
			for i := 0; i < p.win.len(); i++ {
				p.win.at(i).acked = true
			}
			p.popAcked()
		}
	}
	p.connected = false
	p.trouble(nats.ErrDisconnected, false)
	p.retries-- // not a retry
	for it := p.pending.pop(); it != nil; it = p.pending.pop() {
		p.spool(it)
		p.release(it)
	}
	p.returnFree()
	if err := p.back.close(); err != nil {
		p.closeErr = err
	}
	p.snapshot()
	n, _ := p.back.depth()
	if _, mem := p.back.(*memBacklog); mem && n > 0 {
		p.closeErr = fmt.Errorf("%w: %d violations (no spool directory)", ErrUndelivered, n)
	} else if n > 0 {
		p.log.Info().Int64("violations", n).Str("dir", p.cfg.SpoolDir).Msg("violations kept in the spool for the next run")
	}
	if p.ackSub != nil {
		_ = p.ackSub.Unsubscribe()
	}
	if p.nc.IsConnected() {
		_ = p.nc.FlushTimeout(time.Second)
	}
}

// heartbeat publishes the counters on prefix.heartbeat.<host> (core NATS,
// not stored; skipped while disconnected).
func (p *Publisher) heartbeat() {
	if !p.connected {
		return
	}
	var c Counters
	if p.cfg.Counters != nil {
		c = p.cfg.Counters()
	}
	p.snapshot()
	s := p.Stats()
	b := p.hbBuf[:0]
	b = append(b, '{')
	b = appendKey(b, "@timestamp")
	b = appendTime(b, time.Now().UnixNano())
	b = append(b, `,"event":{"kind":"metric","module":"smsswatch","dataset":"smsswatch.heartbeat"}`...)
	b = append(b, `,"host":{"name":`...)
	b = appendString(b, p.cfg.Host)
	b = append(b, `},"smsswatch":{"schema_version":`...)
	b = appendInt(b, SchemaVersion)
	b = appendKey(b, "version")
	b = appendString(b, p.cfg.Version)
	b = appendKey(b, "uptime_s")
	b = appendInt(b, int64(time.Since(p.t0)/time.Second))
	b = appendKey(b, "heartbeat_ms") // the period, for consumers that watch for silence
	b = appendInt(b, int64(p.cfg.Heartbeat/time.Millisecond))
	for _, kv := range [...]struct {
		k string
		v uint64
	}{
		{"events", c.Events}, {"violations", c.Violations}, {"drops", c.Drops},
		{"lost_events", c.LostEvents}, {"queue_depth", uint64(max(c.QueueDepth, 0))},
		{"published", s.Published}, {"publish_drops", s.Dropped}, {"publish_rejected", s.Rejected},
		{"publish_truncated", s.Truncated}, {"publish_oversized", s.Oversized},
		{"publish_queue_depth", uint64(s.QueueDepth)}, {"inflight", uint64(s.Inflight)},
		{"retries", s.Retries}, {"spool_depth", uint64(s.SpoolDepth)},
		{"spool_bytes", uint64(s.SpoolBytes)}, {"spool_dropped", s.SpoolDropped},
	} {
		b = appendKey(b, kv.k)
		b = appendUint(b, kv.v)
	}
	b = append(b, '}', '}')
	p.hbBuf = b
	_ = p.nc.Publish(HeartbeatSubject(p.prefix, p.cfg.Host), b)
}

// ---- window ----

// ring is the window of sent, unacknowledged items, in send order (ids
// increase from front to back).
type ring struct {
	buf     []*item
	head, n int
}

func newRing(size int) ring { return ring{buf: make([]*item, size)} }

func (r *ring) len() int     { return r.n }
func (r *ring) full() bool   { return r.n == len(r.buf) }
func (r *ring) front() *item { return r.buf[r.head] }
func (r *ring) back() *item  { return r.at(r.n - 1) }
func (r *ring) at(i int) *item {
	return r.buf[(r.head+i)%len(r.buf)]
}

func (r *ring) push(it *item) {
	r.buf[(r.head+r.n)%len(r.buf)] = it
	r.n++
}

func (r *ring) pop() *item {
	it := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return it
}

// find returns the index of the item with id, or -1.
func (r *ring) find(id uint64) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := (lo + hi) / 2
		if r.at(m).id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < r.n && r.at(lo).id == id {
		return lo
	}
	return -1
}
