package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/spool"
)

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

// item is one violation on its way: v is the engine's violation as the
// engine's call copied it (queue slots only), Buf its subject then its
// payload once the publishing goroutine encoded it (the spool record it
// was read from, when fromSpool).
type item struct {
	spool.Record
	hex       [16]byte // key in hex, the Nats-Msg-Id header while sending
	id        uint64   // send sequence (reply subject token for acks)
	sent      int64    // when sent, ns since the publisher started
	fromSpool bool
	acked     bool
	rejected  bool
	slot      uint32 // index in the queue's table (queue slots only)

	v       detect.Violation     // the slot's copy; its slices point into the two below
	spawned []string             // backing of v.Evidence.Spawned, reused
	folded  []detect.FoldedValue // backing of v.Evidence.Folded, reused
}

// take copies v into the slot, which owns the copy: the engine may reuse
// whatever v points to once its call returns. The slices are copied into
// arrays the slot keeps from one violation to the next (grown, once, only
// when too small); strings are immutable and shared. The copy keeps its
// strings alive until the slot is reused, at most one violation's per
// slot.
func (it *item) take(v *detect.Violation) {
	it.v = *v
	ev := &it.v.Evidence
	ev.Spawned, ev.Folded = nil, nil
	if n := len(v.Evidence.Spawned); n > 0 {
		if cap(it.spawned) < n {
			it.spawned = make([]string, 0, max(n, minSpawned))
		}
		it.spawned = append(it.spawned[:0], v.Evidence.Spawned...)
		ev.Spawned = it.spawned
	}
	if n := len(v.Evidence.Folded); n > 0 {
		if cap(it.folded) < n {
			it.folded = make([]detect.FoldedValue, 0, max(n, minFolded))
		}
		it.folded = append(it.folded[:0], v.Evidence.Folded...)
		ev.Folded = it.folded
	}
}

// minSpawned and minFolded size a slot's arrays for the slices of a
// violation the first time it needs them: the engine lists at most 8
// spawned processes and 16 folded values, so one allocation is the last.
const (
	minSpawned = 8
	minFolded  = 16
)

// Publisher publishes violations to NATS. It implements detect.Sink: the
// engine's call copies the violation into a queue slot and hands it to the
// publishing goroutine through a bounded queue, never blocking; a full
// queue drops (counted). The publishing goroutine encodes (fitted to the
// server's max payload), sends, awaits acknowledgements (its confirmer:
// core NATS or JetStream), and while NATS cannot be reached keeps
// violations in the spool, which it drains in order once it can.
type Publisher struct {
	cfg    Config
	log    zerolog.Logger
	nc     *nats.Conn
	conf   confirmer
	prefix string
	t0     time.Time

	intake  // the engine side
	signals // into the publishing goroutine
	cells   // Stats' snapshot of the goroutine's counters
	loopState
}

// intake is the engine side: slots move free -> (the engine's call copies
// the violation in) -> pending -> the publishing goroutine (encodes,
// sends) -> free. Both are lock-free single-producer, single-consumer
// rings: the engine side consumes free and produces pending, the
// publishing goroutine the reverse, so neither ever waits for the other.
// prodMu serialises the engine side (several engines, and Close) in one
// short critical section per call; the publishing goroutine takes it only
// for Stats. The engine side takes free slots a batch at a time (one
// store to the ring per batch, not per call) into taken. wake is poked
// only when the publishing goroutine said it sleeps. The fields the engine
// writes on every call have cache lines of their own.
type intake struct {
	_        [cacheLine]byte
	prodMu   sync.Mutex
	closed   bool   // under prodMu
	received uint64 // under prodMu
	taken    freeBatch
	pending  *slotRing
	free     *slotRing
	_        [cacheLine]byte
	sleeping atomic.Bool
	fit      payloadFit    // alerts cut to the server's max payload (fit.go)
	dropped  atomic.Uint64 // queue full, closed, or oversized (also counted in fit)
}

// freeBatch holds the free slots the engine side took off the free ring
// and has not used yet, oldest first (under prodMu).
type freeBatch struct {
	slots [freeBatchSize]uint32 // indices in the queue's table
	next  int                   // slots[next:n] are free
	n     int
}

// freeBatchSize is how many free slots the engine side takes at once.
const freeBatchSize = 32

// slot returns a free slot, nil when none is left.
func (in *intake) slot() *item {
	b := &in.taken
	if b.next == b.n {
		b.next, b.n = 0, in.free.popInto(b.slots[:])
		if b.n == 0 {
			return nil
		}
	}
	it := &in.free.items[b.slots[b.next]]
	b.next++
	return it
}

// freeSlots is how many slots are free (a snapshot).
func (in *intake) freeSlots() int {
	in.prodMu.Lock()
	defer in.prodMu.Unlock()
	return in.free.len() + in.taken.n - in.taken.next
}

// signals wake the publishing goroutine or report back from it.
type signals struct {
	wake chan struct{}
	// freed is signalled (without blocking) when slots return to the
	// engine side, for ViolationWait.
	freed   chan struct{}
	closeCh chan context.Context
	stopped chan struct{}
	discGen atomic.Uint64
}

// cells hold the snapshot for Stats, written by the publishing goroutine.
type cells struct {
	sPublished, sRejected, sSpoolDropped, sRetries atomic.Uint64
	sSpoolDepth, sSpoolBytes, sInflight            atomic.Int64
}

// loopState is owned by the publishing goroutine.
type loopState struct {
	back       spool.Backlog
	persistent bool // back is the disk spool
	win        ring
	toFree     []*item // released slots, returned to free in one go
	nowNs      int64
	spare      []*item
	nextID     uint64
	seenDisc   uint64
	connected  bool
	backoff    time.Duration
	retryAt    int64
	msg        nats.Msg
	msgID      [1]string
	subjects   map[string]string
	throttled  bool // the window filled up; send again when it is 3/4 empty
	published  uint64
	rejected   uint64
	retries    uint64
	hbBuf      []byte
	closeErr   error
	errLog     limiter
	closing    bool

	readRetryAt int64 // the spool failed to read: not before this
	syncDirty   bool  // the spool was written since its last sync
	syncAt      int64 // when to sync it
	hbAt        int64 // next heartbeat
}

var _ detect.Sink = (*Publisher)(nil)

// closedChan is always ready.
var closedChan = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

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
		cfg:    cfg,
		log:    cfg.Logger.With().Str("component", "publisher").Logger(),
		prefix: cfg.SubjectPrefix,
		t0:     time.Now(),
	}
	items := newItems(cfg.QueueSize)
	p.free = newSlotRing(cfg.QueueSize, items)
	p.toFree = make([]*item, 0, cfg.QueueSize)
	p.pending = newSlotRing(cfg.QueueSize, items)
	p.wake = make(chan struct{}, 1)
	p.freed = make(chan struct{}, 1)
	p.closeCh = make(chan context.Context, 1)
	p.stopped = make(chan struct{})
	p.win = newRing(cfg.MaxInflight)
	p.subjects = make(map[string]string)
	slab := make([]byte, cfg.QueueSize*itemBufSize)
	for i := range items {
		it := &items[i]
		it.Buf = slab[i*itemBufSize : i*itemBufSize : (i+1)*itemBufSize]
		p.free.push(it)
	}
	if cfg.SpoolDir != "" {
		s, err := spool.Open(cfg.SpoolDir, cfg.SpoolMaxBytes)
		if err != nil {
			return nil, err
		}
		p.back, p.persistent = s, true
		if n, b := s.Depth(); n > 0 {
			p.log.Info().Int64("violations", n).Int64("bytes", b).Str("dir", cfg.SpoolDir).Msg("spool holds violations from an earlier run; sending them first")
		}
	} else {
		p.back = spool.NewMemory(cfg.SpoolMaxBytes)
	}
	p.msgID[0] = ""
	p.msg.Header = nats.Header{HeaderMsgID: p.msgID[:]}

	hooks := connHooks{
		connected: p.poke,
		disconnected: func() {
			p.discGen.Add(1)
			p.poke()
		},
	}
	nc, err := dial(&p.cfg.Conn, p.log, hooks, true, nats.ReconnectBufSize(-1), nats.PingInterval(10*time.Second), nats.MaxPingsOutstanding(2))
	if err != nil {
		_ = p.back.Close()
		return nil, err
	}
	p.nc = nc
	p.fit.update(nc)
	if cfg.JetStream {
		p.conf, err = newJSConfirm(p)
	} else {
		p.conf = newCoreConfirm(p)
	}
	if err != nil {
		nc.Close()
		_ = p.back.Close()
		return nil, err
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

// Violation copies v into a queue slot for the publishing goroutine,
// which encodes and publishes it. It never blocks and, once the slots
// have their arrays, does not allocate; when the queue is full, or after
// Close, v is dropped and counted (as is, later, an alert too large for
// the server even truncated). It is safe for concurrent use by several
// engines.
func (p *Publisher) Violation(v *detect.Violation) {
	p.prodMu.Lock()
	p.received++
	var it *item
	if !p.closed {
		it = p.slot()
	}
	if it == nil {
		p.prodMu.Unlock()
		p.dropped.Add(1)
		return
	}
	it.take(v)
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
	p.prodMu.Lock()
	received := p.received
	p.prodMu.Unlock()
	return Stats{
		Violations:   received,
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

// ViolationWait is Violation for a producer that can wait, as a replay
// of recorded data can: while every slot of the queue is taken it waits
// for one instead of dropping, until ctx is done or the publisher closes
// (then the alert is a counted drop, as Violation would count it). The
// live sensor uses Violation: its engine must never block.
func (p *Publisher) ViolationWait(ctx context.Context, v *detect.Violation) error {
	for {
		p.prodMu.Lock()
		n, closed := p.free.len()+p.taken.n-p.taken.next, p.closed
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
