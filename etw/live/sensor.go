package live

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/smsswatch/smsswatch/etw"
)

// Enricher reads from a running process what ETW does not carry. The live
// sensor calls it (off the ETW callback) for process starts and running
// processes that involve smss.exe, as the process or as its parent.
type Enricher interface {
	// Enrich sets ev.Proc.UserSID, UserName and CommandLine (and their
	// Known bits) when it can read them from the process ev.Proc.PID, and
	// only when that process is the one ev describes (same creation time):
	// a PID reused since is not read.
	Enrich(ev *etw.Event)
}

// DeviceMapping names the NT device behind a drive letter:
// \Device\HarddiskVolume3 is C:.
type DeviceMapping struct {
	// Device is the NT device path, e.g. \Device\HarddiskVolume3.
	Device string
	// Drive is the drive, e.g. C:.
	Drive string
}

// DefaultSessionName is the ETW session name the live sensor uses. It is
// fixed so that a session left behind by a crash is found (and stopped)
// at the next start, and so that `logman query smsswatch -ets` shows it.
const DefaultSessionName = "smsswatch"

// Config configures the live sensor. The zero value is usable: every
// zero field takes the default shown.
type Config struct {
	// Host is the computer name put in events (default: the computer's
	// NetBIOS name).
	Host string
	// SessionName is the ETW session name (default "smsswatch").
	SessionName string
	// QueueSize is the capacity of the queue between the ETW callback and
	// the detector (default 65536 events, about 20 MB).
	QueueSize int
	// AdvanceEvery is how often the handler's clock is advanced when no
	// events arrive (default and maximum 250 ms).
	AdvanceEvery time.Duration
	// FlushEvery is how often the session's buffers are flushed
	// explicitly (ControlTrace FLUSH), which bounds the delivery latency of
	// a quiet session (default 250 ms; negative: never, leaving the
	// session's 1 s FlushTimer as the bound).
	FlushEvery time.Duration
	// DeliveryLag is how long events are held to be put in time order
	// (one ETW buffer per CPU: a later event can arrive first) and how far
	// behind the wall clock the handler's clock runs, so that an event
	// still on its way cannot be overtaken by a deadline (default 1 s, or
	// 2 s when FlushEvery is negative; at least the flush period).
	DeliveryLag time.Duration
	// HealthEvery is how often the session is checked: still running,
	// provider still enabled with our keywords, lost-event and
	// lost-buffer counters (default 2 s).
	HealthEvery time.Duration
	// RestartMin and RestartMax bound the back-off between attempts to
	// restart a session that stopped (defaults 1 s and 1 min).
	RestartMin, RestartMax time.Duration
	// SettleTime is how long a process that the start-up snapshot saw
	// but that may also be reported live waits for its live record
	// before the snapshot's is used (default 5 s).
	SettleTime time.Duration
	// MaxProcesses bounds the sensor's process table (pid -> image), used
	// for parent images (default 65536).
	MaxProcesses int
	// NoRegistry disables the Session Manager registry baseline and watch.
	NoRegistry bool
	// NoRundown disables the ETW capture-state request (ProcessRundown
	// events) made after the session starts.
	NoRundown bool
	// CanaryEvery is how often the sensor starts a trivial child process
	// (cmd.exe /c exit) and expects its ProcessStart (default 30 s;
	// negative: no canary).
	CanaryEvery time.Duration
	// CanaryTimeout is how long a canary's ProcessStart may take before
	// sensor.blind (default 5 s; at least twice the flush period).
	CanaryTimeout time.Duration
	// Logf receives one line per operational event (session started,
	// restarted, counters); nil discards them. Never called from the ETW
	// callback.
	Logf func(format string, args ...any)
}

// Limits and defaults of Config.
const (
	defaultQueueSize     = 65536
	defaultAdvanceEvery  = 250 * time.Millisecond
	defaultFlushEvery    = 250 * time.Millisecond
	defaultHealthEvery   = 2 * time.Second
	defaultDeliveryLag   = time.Second
	defaultRestartMin    = time.Second
	defaultRestartMax    = time.Minute
	defaultSettleTime    = 5 * time.Second
	defaultMaxProcesses  = 65536
	defaultCanaryEvery   = 30 * time.Second
	defaultCanaryTimeout = 5 * time.Second
)

// withDefaults returns c with zero fields set to their defaults, or an
// error naming a bad field.
func (c Config) withDefaults() (Config, error) {
	if c.SessionName == "" {
		c.SessionName = DefaultSessionName
	}
	if len(c.SessionName) > 1000 {
		return c, fmt.Errorf("live ETW sensor: session name longer than 1000 characters")
	}
	if c.QueueSize == 0 {
		c.QueueSize = defaultQueueSize
	}
	if c.QueueSize < 16 || c.QueueSize > 1<<24 {
		return c, fmt.Errorf("live ETW sensor: queue size %d out of range 16..16777216", c.QueueSize)
	}
	if c.AdvanceEvery <= 0 || c.AdvanceEvery > defaultAdvanceEvery {
		c.AdvanceEvery = defaultAdvanceEvery
	}
	if c.FlushEvery == 0 {
		c.FlushEvery = defaultFlushEvery
	}
	if c.FlushEvery > 0 && c.FlushEvery < 10*time.Millisecond {
		return c, fmt.Errorf("live ETW sensor: flush period %v below 10ms", c.FlushEvery)
	}
	if c.DeliveryLag <= 0 {
		c.DeliveryLag = defaultDeliveryLag
		if c.FlushEvery < 0 {
			c.DeliveryLag = 2 * defaultDeliveryLag
		}
	}
	if c.FlushEvery > 0 && c.DeliveryLag < c.FlushEvery {
		c.DeliveryLag = c.FlushEvery
	}
	if c.HealthEvery <= 0 {
		c.HealthEvery = defaultHealthEvery
	}
	if c.RestartMin <= 0 {
		c.RestartMin = defaultRestartMin
	}
	if c.RestartMax <= 0 {
		c.RestartMax = defaultRestartMax
	}
	if c.RestartMax < c.RestartMin {
		c.RestartMax = c.RestartMin
	}
	if c.SettleTime <= 0 {
		c.SettleTime = defaultSettleTime
	}
	if c.CanaryEvery == 0 {
		c.CanaryEvery = defaultCanaryEvery
	}
	if c.CanaryTimeout <= 0 {
		c.CanaryTimeout = defaultCanaryTimeout
	}
	if c.FlushEvery > 0 && c.CanaryTimeout < 2*c.FlushEvery {
		c.CanaryTimeout = 2 * c.FlushEvery
	}
	if c.FlushEvery < 0 && c.CanaryTimeout < 2*time.Second {
		c.CanaryTimeout = 2 * time.Second
	}
	if c.MaxProcesses == 0 {
		c.MaxProcesses = defaultMaxProcesses
	}
	if c.MaxProcesses < 64 {
		return c, fmt.Errorf("live ETW sensor: process table bound %d below 64", c.MaxProcesses)
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}

// Stats are the live sensor's counters since it was made.
type Stats struct {
	// Events is how many Kernel-Process events were decoded and queued.
	Events uint64
	// Filtered is how many events were passed over on the header alone
	// (event IDs the sensor does not use).
	Filtered uint64
	// DecodeErrors is how many events could not be read (event data
	// shorter than its version's layout, or malformed).
	DecodeErrors uint64
	// Partial is how many events were decoded from the known prefix only:
	// a manifest version newer than the decoder knows, or bytes after a
	// known layout (see etw/kernelproc).
	Partial uint64
	// Foreign is how many events came from another provider than
	// Microsoft-Windows-Kernel-Process (dropped unread).
	Foreign uint64
	// FlushErrors is how many explicit session flushes failed.
	FlushErrors uint64
	// Dropped is how many decoded events the full queue dropped.
	Dropped uint64
	// Handled is how many events were given to the handler.
	Handled uint64
	// Restarts is how many times the ETW session was restarted after it
	// stopped.
	Restarts uint64
	// LostEvents and LostBuffers are the session's own loss counters
	// (EventsLost; RealTimeBuffersLost + LogBuffersLost), as last read.
	LostEvents  uint64
	LostBuffers uint64
	// Blind is how many times sensor.blind was raised.
	Blind uint64
	// Enriched and EnrichMissed count smss-related processes whose user
	// and command line were read, or could not be (already gone).
	Enriched     uint64
	EnrichMissed uint64
	// Evicted is how many process-table entries were evicted to respect
	// MaxProcesses.
	Evicted uint64
	// Registry is how many registry events (baseline and changes) were
	// handled.
	Registry uint64
	// QueueLen is the number of queued events when the stats were read.
	QueueLen int
	// ClockSteps is how many times the events' time base jumped by more
	// than a minute (a wall-clock step seen across a session restart, or
	// within one); the sensor's clock followed it (see liveClock).
	ClockSteps uint64
	// CanaryMissed is how many canary processes' ProcessStart did not
	// arrive in time (each raised sensor.blind).
	CanaryMissed uint64
}

// liveCounters are the atomics behind Stats (the callback and the
// supervisors write some of them).
type liveCounters struct {
	events, filtered, decodeErrors, handled, restarts      atomic.Uint64
	lostEvents, lostBuffers, blind, enriched, enrichMissed atomic.Uint64
	registry                                               atomic.Uint64
	partial, foreign, flushErrors                          atomic.Uint64
	canaryMissed                                           atomic.Uint64
}

// noteKind says what a liveNote carries.
type noteKind uint8

const (
	// noteBlind: a supervisor saw the sensor go blind (reason).
	noteBlind noteKind = iota + 1
	// noteEvent: an event from outside ETW (registry baseline or change).
	noteEvent
	// noteSnapshot: a process snapshot taken after the session started
	// (snap; err when it could not be taken). The first one also brings
	// the boot evidence.
	noteSnapshot
	// noteCanary: the canary process pid was started at since (sensor
	// clock); its ProcessStart is due (canaryWatch).
	noteCanary
)

// liveNote is a message to the consumer goroutine from the session,
// health and registry supervisors (never from the ETW callback).
type liveNote struct {
	kind   noteKind
	reason string
	ev     etw.Event
	snap   *Snapshot
	err    error
	pid    uint32
	// since is, for a snapshot, the time just before the session that the
	// snapshot follows was started: processes created at or after it may
	// also be reported live, so they wait (SettleTime) for that.
	since int64
}

// pendingRun is a snapshot process that may also be reported live.
type pendingRun struct {
	ev       etw.Event
	deadline int64
}

// liveCore is the platform-independent part of the live sensor: the queue
// from the ETW callback, the process table, and the consumer loop that
// feeds the handler. The Windows layer owns the session and the
// supervisors; everything here runs (and is tested) anywhere.
type liveCore struct {
	cfg Config
	// systemDevice is the NT device of SystemRoot's volume, put in the
	// boot event so that a recorded trace compares NT paths too.
	systemDevice string
	q            *Queue
	procs        *procTable
	enrich       Enricher
	notes        chan liveNote
	clock        *liveClock
	// canary, when set, is shown every start event (consumer goroutine).
	canary  *canaryWatch
	c       liveCounters
	pending map[uint32]*pendingRun
	ro      *reorderBuf
	// overflowed counts the events deliver handed over early since the
	// last release (added to the handled counter there).
	overflowed uint64

	lastDropped, lastDecodeErrors uint64
	booted                        bool
}

// newLiveCore makes the consumer. mono is its monotonic clock source, read
// as the time itself (tests); nil takes the wall clock once and Go's
// monotonic clock from then on (newRealLiveClock).
func newLiveCore(cfg Config, enrich Enricher, mono func() int64) (*liveCore, error) {
	q, err := NewQueue(cfg.QueueSize)
	if err != nil {
		return nil, fmt.Errorf("live ETW sensor: %w", err)
	}
	clock := newRealLiveClock()
	if mono != nil {
		clock = newLiveClock(mono(), mono)
	}
	return &liveCore{
		cfg:     cfg,
		q:       q,
		procs:   newProcTable(cfg.MaxProcesses),
		enrich:  enrich,
		notes:   make(chan liveNote, 256),
		clock:   clock,
		pending: map[uint32]*pendingRun{},
		ro:      newReorderBuf(cfg.QueueSize),
	}, nil
}

// stats returns the counters.
func (c *liveCore) stats() Stats {
	return Stats{
		Events:       c.c.events.Load(),
		Filtered:     c.c.filtered.Load(),
		DecodeErrors: c.c.decodeErrors.Load(),
		Partial:      c.c.partial.Load(),
		Foreign:      c.c.foreign.Load(),
		FlushErrors:  c.c.flushErrors.Load(),
		Dropped:      c.q.Dropped(),
		Handled:      c.c.handled.Load(),
		Restarts:     c.c.restarts.Load(),
		LostEvents:   c.c.lostEvents.Load(),
		LostBuffers:  c.c.lostBuffers.Load(),
		Blind:        c.c.blind.Load(),
		Enriched:     c.c.enriched.Load(),
		EnrichMissed: c.c.enrichMissed.Load(),
		Evicted:      c.procs.evicted.Load(),
		Registry:     c.c.registry.Load(),
		QueueLen:     c.q.Len(),
		ClockSteps:   c.clock.steps.Load(),
		CanaryMissed: c.c.canaryMissed.Load(),
	}
}

// now is the sensor's clock (liveClock): event time carried forward by
// monotonic time, never the wall clock.
func (c *liveCore) now() int64 { return c.clock.Now() }

// push is the ETW callback's side: it queues a decoded event. It never
// blocks, never allocates and takes no lock.
func (c *liveCore) push(ev *etw.Event) {
	if c.q.Push(ev) {
		c.c.events.Add(1)
	}
}

// send delivers a note to the consumer; supervisors block here (never the
// ETW callback) until the consumer takes it or ctx ends.
func (c *liveCore) send(ctx context.Context, n liveNote) bool {
	select {
	case c.notes <- n:
		return true
	case <-ctx.Done():
		return false
	}
}

// batch is how many queued events the consumer handles before it looks at
// the clock and the notes again.
const batch = 512

// run is the consumer loop: it waits for the start-up snapshot (so that the
// machine's state precedes live events), then feeds the handler queued
// events, notes and clock advances until ctx ends.
func (c *liveCore) run(ctx context.Context, h etw.Handler) {
	// The first snapshot note (or a failure to take one) comes before any
	// queued event: the master smss.exe that started at boot must be known
	// before the events that refer to it.
	defer c.release(true, h)
	for !c.booted {
		select {
		case <-ctx.Done():
			return
		case n := <-c.notes:
			c.note(&n, h)
		}
	}
	tick := time.NewTicker(c.cfg.AdvanceEvery)
	defer tick.Stop()
	lastAdvance := c.now() - int64(c.cfg.AdvanceEvery)
	for {
		c.consume(h)
		c.checkLoss(h)
		now := c.now()
		if now-lastAdvance >= int64(c.cfg.AdvanceEvery) {
			c.settle(now, h)
			c.expireCanary(now, h)
		}
		c.release(false, h)
		if now-lastAdvance >= int64(c.cfg.AdvanceEvery) {
			h.Advance(now - int64(c.cfg.DeliveryLag))
			lastAdvance = now
		}
		// Notes are taken between batches even when the queue is busy.
		select {
		case n := <-c.notes:
			c.note(&n, h)
			continue
		case <-ctx.Done():
			return
		default:
		}
		if !c.q.Arm() {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.q.Signal():
		case n := <-c.notes:
			c.note(&n, h)
		case <-tick.C:
		}
	}
}

// consume handles up to batch queued events, in place in the queue. The
// clock sees a run of events first (liveClock.note; the clock is
// published once for the run), then the run is handled; a run ends at an
// event that steps the clock, which is handled after clockStep. The
// handling does not read the clock, so this is the order "observe,
// handle" event by event. An event the reorder buffer keeps leaves its
// slot without a copy (keep); the others are cleared there.
func (c *liveCore) consume(h etw.Handler) {
	q, clock := c.q, c.clock
	n := q.Ready(batch)
	m := clock.mono()
	// The batch's i-th event is in slot first+i, read here without a
	// call: each handled event frees its slot (keep or Discard), so it
	// is At(0) when its turn comes.
	buf, mask, first := q.buf, q.mask, q.next
	for j := 0; j < n; {
		k, step := j, int64(0)
		for ; k < n; k++ {
			if t := buf[(first+uint64(k))&mask].Time; clock.ahead(t, m) {
				if step = clock.note(t, m); step != 0 {
					break
				}
			}
		}
		clock.flush()
		for ; j < k; j++ {
			if !c.handle(buf[(first+uint64(j))&mask], h) {
				q.Discard()
			}
		}
		if k < n {
			c.clockStep(step, h)
			if !c.handle(buf[(first+uint64(j))&mask], h) {
				q.Discard()
			}
			j++
		}
	}
}

// clockStep handles a jump of the events' time base by step ns: it is
// logged, and a step back releases what is held (dated in the old base, it
// would otherwise wait for the new base to catch up: held alerts).
func (c *liveCore) clockStep(step int64, h etw.Handler) {
	c.cfg.Logf("event time base stepped by %v: the sensor's clock follows it", time.Duration(step))
	if step < 0 {
		c.release(true, h)
	}
}

// expireCanary raises sensor.blind for canary processes whose start did
// not arrive in time.
func (c *liveCore) expireCanary(now int64, h etw.Handler) {
	if c.canary == nil {
		return
	}
	if n, pid := c.canary.expire(now); n > 0 {
		c.canaryMissed(uint64(n), pid, h)
	}
}

func (c *liveCore) canaryMissed(n uint64, pid uint32, h etw.Handler) {
	c.c.canaryMissed.Add(n)
	c.blind(h, "canary process (pid "+strconv.FormatUint(uint64(pid), 10)+") started by the sensor was not reported by ETW within "+
		time.Duration(c.canary.timeout).String()+": process starts are not reaching the sensor")
}

// checkLoss raises sensor.blind when the queue dropped events or events
// could not be decoded since the last look.
func (c *liveCore) checkLoss(h etw.Handler) {
	if d := c.q.Dropped(); d != c.lastDropped {
		n := d - c.lastDropped
		c.lastDropped = d
		c.blind(h, "event queue full: "+strconv.FormatUint(n, 10)+" events dropped")
	}
	if d := c.c.decodeErrors.Load(); d != c.lastDecodeErrors {
		n := d - c.lastDecodeErrors
		c.lastDecodeErrors = d
		c.blind(h, strconv.FormatUint(n, 10)+" Kernel-Process events could not be decoded")
	}
}

// blind raises sensor.blind at the handler's (lagging) clock, after the
// events that precede it.
func (c *liveCore) blind(h etw.Handler, reason string) {
	c.c.blind.Add(1)
	c.cfg.Logf("sensor blind: %s", reason)
	c.release(false, h)
	h.Blind(c.now()-int64(c.cfg.DeliveryLag), reason)
}

// release hands the handler the held events that are older than the
// delivery lag (all of them when force), oldest first.
func (c *liveCore) release(force bool, h etw.Handler) {
	until := c.now() - int64(c.cfg.DeliveryLag)
	if force {
		until = 1<<63 - 1
	}
	n := c.overflowed
	for ev := c.ro.popReady(until); ev != nil; ev = c.ro.popReady(until) {
		n++
		h.Handle(ev)
	}
	if n != 0 {
		c.c.handled.Add(n)
		c.overflowed = 0
	}
}

// note handles one supervisor message.
func (c *liveCore) note(n *liveNote, h etw.Handler) {
	switch n.kind {
	case noteBlind:
		c.blind(h, n.reason)
	case noteCanary:
		if c.canary != nil {
			if evicted, pid := c.canary.sent(n.pid, n.since); evicted {
				c.canaryMissed(1, pid, h)
			}
		}
	case noteEvent:
		if n.ev.Kind == etw.KindRegistry {
			c.c.registry.Add(1)
		}
		c.deliver(&n.ev, h)
	case noteSnapshot:
		first := !c.booted
		c.booted = true
		if n.err != nil {
			c.cfg.Logf("process snapshot failed: %v", n.err)
			if !first {
				// Without a snapshot the state after a gap cannot be
				// reconciled: say so.
				c.blind(h, "process snapshot after session restart failed: "+n.err.Error())
			}
			return
		}
		c.reconcile(n.snap, n.since, first, h)
	}
}

// deliver queues ev for the handler, in time order after the delivery lag
// (release).
func (c *liveCore) deliver(ev *etw.Event, h etw.Handler) {
	if c.ro.full() {
		// Over the bound: the oldest goes now (counted as handled at
		// the next release: an atomic add per event is a fence).
		c.overflowed++
		h.Handle(c.ro.pop())
	}
	c.ro.push(ev)
}

// keep is deliver for the queue's oldest event, ev (At(0), which handle
// was given): the reorder buffer takes the event itself from its slot, and
// gives the slot an event of its own (over the bound, the one it
// releases, once handled). The slot's event is overwritten whole by the
// producer before it is read again, so it is not cleared: it keeps its
// strings until then, which bounds what it keeps alive by the queue's
// capacity. It reports true: the slot is free and needs no clearing.
func (c *liveCore) keep(ev *etw.Event, h etw.Handler) bool {
	r := c.ro
	if !r.full() {
		r.adopt(c.q.take(r.spare()))
		return true
	}
	// Over the bound: the oldest goes now (counted as handled at the
	// next release), and its event becomes the slot's.
	old := r.exchange(ev)
	c.overflowed++
	h.Handle(old)
	c.q.take(old)
	return true
}

// handle processes one queued ETW event: it keeps the process table, fills
// ParentImage (and an exit's Image) from it, drops rundown records of
// processes already known, enriches smss-related processes, and delivers.
// ev is the queue's oldest event (At(0)); handle reports whether it was
// kept (keep), else the caller clears its slot (Discard).
func (c *liveCore) handle(ev *etw.Event, h etw.Handler) bool {
	p := &ev.Proc
	switch ev.Kind {
	case etw.KindStart:
		if pr := c.pendingFor(ev); pr != nil {
			// Seen by the snapshot and now live: the live record wins,
			// with what only the snapshot read.
			mergeSnapshot(ev, &pr.ev)
			delete(c.pending, p.PID)
		}
		if c.canary != nil {
			c.canary.start(ev)
		}
		c.fillParent(ev)
		c.procs.put(p.PID, p.Image, createTimeOf(ev), p.Key)
		if c.enrich != nil {
			c.maybeEnrich(ev)
		}
		return c.keep(ev, h)
	case etw.KindRunning:
		if e, _ := c.procs.lookup(p.PID); e != nil && e.matches(ev) {
			// Already known (snapshot or live): keep the sequence number
			// the rundown brings.
			if e.key == "" && p.Key != "" {
				e.key = p.Key
			}
			if pr, ok := c.pending[p.PID]; ok && sameProcess(&pr.ev, ev) {
				mergeSnapshot(ev, &pr.ev)
				delete(c.pending, p.PID)
				c.fillParent(ev)
				c.maybeEnrich(ev)
				return c.keep(ev, h)
			}
			return false
		}
		c.fillParent(ev)
		c.procs.put(p.PID, p.Image, createTimeOf(ev), p.Key)
		c.maybeEnrich(ev)
		return c.keep(ev, h)
	case etw.KindExit:
		if e, i := c.procs.lookup(p.PID); e != nil && e.matches(ev) {
			if !ev.Has(etw.FieldImage) && e.image != "" {
				p.Image = e.image
				ev.Known |= etw.FieldImage
			}
			c.procs.delAt(i)
		}
		if pr := c.pendingFor(ev); pr != nil {
			// A snapshot process that ends before it settled: the
			// detector must know it ran.
			delete(c.pending, p.PID)
			c.deliver(&pr.ev, h)
		}
		return c.keep(ev, h)
	default:
		return c.keep(ev, h)
	}
}

// pendingFor returns the snapshot process waiting for ev's live record
// (same process), or nil. Most of the time none waits: the map is not
// looked up then.
func (c *liveCore) pendingFor(ev *etw.Event) *pendingRun {
	if len(c.pending) == 0 {
		return nil
	}
	if pr, ok := c.pending[ev.Proc.PID]; ok && sameProcess(&pr.ev, ev) {
		return pr
	}
	return nil
}

// settle delivers the snapshot processes whose live record did not come.
func (c *liveCore) settle(now int64, h etw.Handler) {
	for pid, pr := range c.pending {
		if now >= pr.deadline {
			delete(c.pending, pid)
			c.fillParent(&pr.ev)
			c.maybeEnrich(&pr.ev)
			c.deliver(&pr.ev, h)
		}
	}
}

// reconcile brings the detector in line with a snapshot: at start-up, the
// boot evidence and every running process; after a session restart, the
// processes that started during the gap (KindRunning) and the end of those
// that exited during it (KindExit without an exit time).
func (c *liveCore) reconcile(s *Snapshot, since int64, first bool, h etw.Handler) {
	host := c.cfg.Host
	if first {
		var boot etw.Event
		boot.Kind = etw.KindBoot
		boot.Source = etw.SourceETW
		boot.Host = host
		boot.Time = s.Time
		if s.BootTime != 0 {
			boot.Boot.BootTime = s.BootTime
			boot.Known |= etw.FieldBootTime
			boot.Time = s.BootTime
		}
		boot.Boot.SystemRoot = s.SystemRoot
		boot.Boot.SystemDevice = c.systemDevice
		c.deliver(&boot, h)
	}
	procs := s.sorted()
	alive := make(map[uint32]int64, len(procs))
	// A snapshot process was running when the session started: dated
	// then, it comes before every event of that session.
	at := s.Time
	if since != 0 && since < at {
		at = since
	}
	for i := range procs {
		sp := &procs[i]
		alive[sp.PID] = sp.CreateTime
		var ev etw.Event
		sp.event(host, at, &ev)
		if e, ok := c.procs.get(sp.PID); ok && e.matches(&ev) && !first {
			continue // known and still running
		}
		// Parent images come from the snapshot itself (sorted parents
		// first) as well as from what was known.
		c.fillParent(&ev)
		c.procs.put(sp.PID, ev.Proc.Image, createTimeOf(&ev), "")
		if since != 0 && sp.CreateTime >= since {
			// Possibly also reported live (started as the session was
			// being enabled): wait for that record.
			ev.Time = sp.CreateTime
			c.pending[sp.PID] = &pendingRun{ev: ev, deadline: c.now() + int64(c.cfg.SettleTime)}
			continue
		}
		c.maybeEnrich(&ev)
		c.deliver(&ev, h)
	}
	if first {
		return
	}
	// Processes the table holds that the snapshot does not: they exited
	// while the sensor was blind.
	for _, pid := range c.procs.pids() {
		if pid == 4 || pid == 0 {
			continue
		}
		e, _ := c.procs.get(pid)
		if ct, ok := alive[pid]; ok && (ct == 0 || e.createTime == 0 || ct == e.createTime) {
			continue
		}
		var ev etw.Event
		ev.Kind = etw.KindExit
		ev.Source = etw.SourceETW
		ev.Host = host
		ev.Time = s.Time
		ev.Proc.PID = pid
		ev.Known = etw.FieldPID
		if e.image != "" {
			ev.Proc.Image = e.image
			ev.Known |= etw.FieldImage
		}
		if e.createTime != 0 {
			ev.Proc.CreateTime = e.createTime
			ev.Known |= etw.FieldCreateTime
		}
		if e.key != "" {
			ev.Proc.Key = e.key
			ev.Known |= etw.FieldKey
		}
		c.procs.del(pid)
		c.deliver(&ev, h)
	}
}

// fillParent sets ParentImage from the process table when the table's
// process at ParentPID is provably the parent: created before the child,
// and with the same sequence number when both are known.
func (c *liveCore) fillParent(ev *etw.Event) {
	p := &ev.Proc
	if ev.Has(etw.FieldParentImage) || !ev.Has(etw.FieldParentPID) {
		return
	}
	e, _ := c.procs.lookup(p.ParentPID)
	if e == nil || e.image == "" {
		return
	}
	if e.createTime != 0 && ev.Has(etw.FieldCreateTime) && e.createTime > p.CreateTime {
		return // the PID was reused after the parent exited
	}
	if e.key != "" && ev.Has(etw.FieldParentKey) && e.key != p.ParentKey {
		return
	}
	p.ParentImage = e.image
	ev.Known |= etw.FieldParentImage
}

// maybeEnrich reads user and command line for processes that involve
// smss.exe.
func (c *liveCore) maybeEnrich(ev *etw.Event) {
	if c.enrich == nil || (ev.Kind != etw.KindStart && ev.Kind != etw.KindRunning) {
		return
	}
	if !smssLike(ev.Proc.Image) && !smssLike(ev.Proc.ParentImage) {
		return
	}
	want := etw.FieldUserSID | etw.FieldCommandLine
	if ev.Has(want) {
		return
	}
	c.enrich.Enrich(ev)
	if ev.Has(etw.FieldCommandLine) || ev.Has(etw.FieldUserSID) {
		c.c.enriched.Add(1)
	} else {
		c.c.enrichMissed.Add(1)
	}
}

// smssLike reports whether path's file name is smss.exe or could be taken
// for it: it starts with "smss" in any case, or has a character outside
// ASCII (a lookalike such as a Cyrillic s). Enrichment is cheap and rare,
// so this errs on the side of reading more.
func smssLike(path string) bool {
	i := len(path)
	for i > 0 && path[i-1] != '\\' && path[i-1] != '/' {
		i--
	}
	base := path[i:]
	if len(base) == 0 {
		return false
	}
	for j := 0; j < len(base); j++ {
		if base[j] >= 0x80 {
			return true
		}
	}
	if len(base) < 4 {
		return false
	}
	return (base[0]|0x20) == 's' && (base[1]|0x20) == 'm' && (base[2]|0x20) == 's' && (base[3]|0x20) == 's'
}

// mergeSnapshot copies into a live record what only the snapshot read
// (user, command line) and that the record lacks.
func mergeSnapshot(dst, snap *etw.Event) {
	d, s := &dst.Proc, &snap.Proc
	if !dst.Has(etw.FieldUserSID) && snap.Has(etw.FieldUserSID) {
		d.UserSID = s.UserSID
		dst.Known |= etw.FieldUserSID
	}
	if !dst.Has(etw.FieldUserName) && snap.Has(etw.FieldUserName) {
		d.UserName = s.UserName
		dst.Known |= etw.FieldUserName
	}
	if !dst.Has(etw.FieldCommandLine) && snap.Has(etw.FieldCommandLine) {
		d.CommandLine = s.CommandLine
		dst.Known |= etw.FieldCommandLine
	}
	if !dst.Has(etw.FieldImage) && snap.Has(etw.FieldImage) {
		d.Image = s.Image
		dst.Known |= etw.FieldImage
	}
}

// sameProcess reports whether a and b describe the same process: same PID
// and, when both know it, the same creation time.
func sameProcess(a, b *etw.Event) bool {
	if a.Proc.PID != b.Proc.PID {
		return false
	}
	if a.Has(etw.FieldCreateTime) && b.Has(etw.FieldCreateTime) {
		return a.Proc.CreateTime == b.Proc.CreateTime
	}
	return true
}

func createTimeOf(ev *etw.Event) int64 {
	if ev.Has(etw.FieldCreateTime) {
		return ev.Proc.CreateTime
	}
	return 0
}

// Sensor is the live sensor: a Microsoft-Windows-Kernel-Process ETW session
// (Windows only; New fails elsewhere with ErrUnsupported), a process
// snapshot at start, the Session Manager registry watch, and the loop that
// feeds a Handler. Make one with New and call Run once.
type Sensor struct {
	cfg        Config
	core       *liveCore
	systemRoot string
	devices    []DeviceMapping
	plat       livePlatform
}

// SystemDeviceOf returns the NT device of the drive root is on
// (C:\Windows -> \Device\HarddiskVolume3), or "" when devices do not say.
func SystemDeviceOf(root string, devices []DeviceMapping) string {
	if len(root) < 2 || root[1] != ':' {
		return ""
	}
	for _, d := range devices {
		if len(d.Drive) >= 1 && (d.Drive[0]|0x20) == (root[0]|0x20) {
			return d.Device
		}
	}
	return ""
}

// SystemRoot returns the Windows folder of the machine (C:\Windows), read
// by New: the detector's configuration needs it before the engine is
// made.
func (l *Sensor) SystemRoot() string { return l.systemRoot }

// Devices returns the NT device behind each drive letter, read by New,
// for detect.Detector.MapDevice (ETW image names are NT paths).
func (l *Sensor) Devices() []DeviceMapping { return append([]DeviceMapping(nil), l.devices...) }

// Host returns the computer name the sensor puts in events.
func (l *Sensor) Host() string { return l.cfg.Host }

// Stats returns the sensor's counters. Safe to call from any goroutine.
func (l *Sensor) Stats() Stats { return l.core.stats() }
