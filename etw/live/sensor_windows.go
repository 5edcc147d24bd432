//go:build windows && cgo

package live

// The live sensor splits ETW in two. The controller side stays with
// github.com/bi-zone/etw (the pinned v0.0.0-20210519083747-fe9042eb0ea8):
// NewSession (StartTrace), UpdateOptions (EnableTraceEx2, also re-issued on
// every health tick) and Close (disable, then ControlTrace STOP). The
// consumer side is etw/live/consumer: OpenTraceW on the session by name,
// ProcessTrace on the supervisor's consumer goroutine, and CloseTrace.
//
// Why not bi-zone's Session.Process: it keeps the consumer's TRACEHANDLE
// a local of its processEvents and never calls CloseTrace, so every session
// restart leaked one consumer handle; and it hands the callback an Event
// whose EVENT_RECORD is unexported, which the sensor used to reach through
// an unsafe mirror of the library's struct. consumer passes ETW's own
// EVENT_RECORD (consumer.Record, its layout checked against the C headers
// by that package's Windows tests) and owns the handle, so closing a
// session closes the handle (consumer.Close) and then stops the session
// (bi-zone's Close), and a restart waits for the previous ProcessTrace to
// return (consumerGate here, consumer.ErrBusy as the package's own guard).
//
// bi-zone is not asked for properties either: its EventProperties runs
// TDH per event (2-5 ms, and at this commit it aborts every ProcessStart on
// its Flags property, the library's PR #9), and ExtendedInfo copies. The
// callback decodes UserData with etw/live/kernelproc (pure Go, fixed
// manifest layouts) and reads the SID and terminal-session extended items
// from the record. Why not the Velocidex/etw fork: it would fix the Flags
// abort but still decode through TDH; bi-zone stays the one pinned ETW
// dependency. What bi-zone still does not allow: a millisecond FlushTimer
// at StartTrace (set afterwards with ControlTrace UPDATE, see
// setFlushTimerMS).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/live/consumer"

	bizetw "github.com/bi-zone/etw"
	"golang.org/x/sys/windows"
)

// kernelProcessProvider is the Microsoft-Windows-Kernel-Process provider
// GUID.
const kernelProcessProvider = "{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}"

// livePlatform is the Windows-only state of Sensor.
type livePlatform struct {
	provider windows.GUID
	// cbHost is the host name the callback puts in events.
	cbHost string
	// kp and ev are the callback's decoder and event (the ProcessTrace
	// thread's only; ProcessTrace calls the callback sequentially and
	// consumerGate keeps one ProcessTrace at a time).
	kp *kpDecoder
	ev etw.Event
	// gate keeps one ProcessTrace consumer at a time.
	gate *consumerGate
}

// eventHeaderFlagStringOnly is EVENT_HEADER_FLAG_STRING_ONLY: UserData is a
// string, not the template's fields.
const eventHeaderFlagStringOnly = 0x0004

// processReturnWait is how long closing a session waits for its
// ProcessTrace to return before saying so (the gate stays shut until it
// does).
const processReturnWait = 10 * time.Second

// errProcessStuck is returned by traceRun.stopAndWait when ProcessTrace
// has not returned within processReturnWait of closing.
var errProcessStuck = errors.New("ProcessTrace did not return after the session was closed")

// New prepares the live sensor: it reads the computer name, the
// Windows folder and the drive-to-device map. It starts nothing; Run does.
// The process must run as an administrator or LocalSystem.
func New(cfg Config) (*Sensor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		if cfg.Host, err = windows.ComputerName(); err != nil {
			return nil, fmt.Errorf("live ETW sensor: computer name: %w", err)
		}
	}
	provider, err := windows.GUIDFromString(kernelProcessProvider)
	if err != nil {
		return nil, fmt.Errorf("live ETW sensor: provider GUID: %w", err)
	}
	root, err := windows.GetSystemWindowsDirectory()
	if err != nil {
		return nil, fmt.Errorf("live ETW sensor: Windows folder: %w", err)
	}
	devices, err := dosDevices()
	if err != nil {
		return nil, fmt.Errorf("live ETW sensor: %w", err)
	}
	if err := enableDebugPrivilege(); err != nil {
		// An elevated console has SeDebugPrivilege but disabled; without
		// it protected and other users' processes are not enriched.
		cfg.Logf("SeDebugPrivilege not enabled (%v): some processes cannot be enriched", err)
	}
	core, err := newLiveCore(cfg, &winEnricher{}, nil)
	if err != nil {
		return nil, err
	}
	if cfg.CanaryEvery > 0 {
		core.canary = newCanaryWatch(uint32(os.Getpid()), cfg.CanaryTimeout)
	}
	core.systemDevice = SystemDeviceOf(root, devices)
	return &Sensor{cfg: cfg, core: core, systemRoot: root, devices: devices,
		plat: livePlatform{provider: provider, cbHost: cfg.Host, kp: newKPDecoder(), gate: newConsumerGate()}}, nil
}

// dosDevices maps every drive letter to its NT device (QueryDosDevice).
func dosDevices() ([]DeviceMapping, error) {
	mask, err := windows.GetLogicalDrives()
	if err != nil {
		return nil, fmt.Errorf("GetLogicalDrives: %w", err)
	}
	var out []DeviceMapping
	buf := make([]uint16, 1024)
	for i := 0; i < 26; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		drive := string(rune('A'+i)) + ":"
		name, _ := windows.UTF16PtrFromString(drive)
		n, err := windows.QueryDosDevice(name, &buf[0], uint32(len(buf)))
		if err != nil || n == 0 {
			continue // a disconnected network drive, for example
		}
		out = append(out, DeviceMapping{Device: windows.UTF16ToString(buf[:n]), Drive: drive})
	}
	return out, nil
}

// Run runs the sensor until ctx ends: it starts the ETW session
// ("smsswatch", stopping one a crash left behind), takes the start-up
// snapshot, watches the registry, and feeds h from the calling goroutine
// (h needs no locking). The session is closed when Run returns. A session
// that stops (logman stop smsswatch -ets), loses events or is reconfigured
// from outside raises h.Blind and is restarted with back-off; Run returns
// only when ctx ends, with nil.
func (l *Sensor) Run(ctx context.Context, h etw.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.superviseSession(ctx, &wg)
	}()
	l.core.run(ctx, h)
	cancel()
	wg.Wait()
	return nil
}

// callback is the ETW event callback (the ProcessTrace thread). It checks
// the provider and the event ID on the header, decodes the record in pure
// Go (no TDH, no map) and copies the event into the queue. It never
// blocks, logs or locks, and allocates only when a new image path or SID
// enters its caches or a key arena is full.
func (l *Sensor) callback(r *consumer.Record) {
	c := l.core
	hd := &r.Header
	if windows.GUID(hd.ProviderID) != l.plat.provider {
		c.c.foreign.Add(1)
		return
	}
	id := hd.Descriptor.ID
	if !wantKernelProcessEvent(id) {
		c.c.filtered.Add(1)
		return
	}
	if hd.Flags&eventHeaderFlagStringOnly != 0 {
		c.c.decodeErrors.Add(1)
		return
	}
	h := kpHeader{
		eventID:   id,
		version:   hd.Descriptor.Version,
		flags:     hd.Flags,
		processID: hd.ProcessID,
		timeStamp: hd.UnixNano(),
	}
	if id == eventProcessStart {
		// The creator's user and session: the SID and TS_ID items.
		ext := r.Extended()
		for i := range ext {
			if d := ext[i].Data(); d != nil {
				h.addExt(ext[i].ExtType, d)
			}
		}
	}
	ev := &l.plat.ev
	partial, err := l.plat.kp.decode(&h, r.Data(), l.plat.cbHost, ev)
	if err != nil {
		c.c.decodeErrors.Add(1)
		return
	}
	if partial {
		c.c.partial.Add(1)
	}
	c.push(ev)
}

// openSession creates the ETW session, stopping a same-named one a crash
// left behind.
func (l *Sensor) openSession() (*bizetw.Session, error) {
	opts := []bizetw.Option{
		bizetw.WithName(l.cfg.SessionName),
		bizetw.WithLevel(bizetw.TRACE_LEVEL_INFORMATION),
		bizetw.WithMatchKeywords(kernelProcessKeywordProcess, 0),
		bizetw.WithProperty(bizetw.EVENT_ENABLE_PROPERTY_SID),
		bizetw.WithProperty(bizetw.EVENT_ENABLE_PROPERTY_TS_ID),
	}
	s, err := bizetw.NewSession(l.plat.provider, opts...)
	var exists bizetw.ExistsError
	if errors.As(err, &exists) {
		l.cfg.Logf("ETW session %q already exists (left by a crash?): stopping it", l.cfg.SessionName)
		if kerr := bizetw.KillSession(l.cfg.SessionName); kerr != nil {
			return nil, fmt.Errorf("stop the leftover ETW session %q: %w", l.cfg.SessionName, kerr)
		}
		s, err = bizetw.NewSession(l.plat.provider, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("start ETW session %q: %w", l.cfg.SessionName, err)
	}
	return s, nil
}

// superviseSession keeps the ETW session running until ctx ends: start,
// start-up work, health checks and flushes, restart with back-off.
func (l *Sensor) superviseSession(ctx context.Context, wg *sync.WaitGroup) {
	c := l.core
	ctl, err := newTraceControl(l.cfg.SessionName)
	if err != nil {
		c.send(ctx, liveNote{kind: noteSnapshot, err: err})
		c.send(ctx, liveNote{kind: noteBlind, reason: err.Error()})
		return
	}
	bo := newBackoff(l.cfg.RestartMin, l.cfg.RestartMax)
	first := true
	for ctx.Err() == nil {
		// Never two ProcessTrace threads: a restart waits until the
		// previous session's consumer has returned, however long that is
		// (saying so), rather than start a second one beside it.
		reported := false
		if !l.plat.gate.waitIdle(ctx, 10*time.Second, func(d time.Duration) {
			l.cfg.Logf("ProcessTrace of the previous ETW session has not returned after %v: waiting before a restart", d.Round(time.Second))
			if !reported {
				reported = true
				c.send(ctx, liveNote{kind: noteBlind, reason: "ProcessTrace of the previous ETW session does not return: the session cannot be restarted"})
			}
		}) {
			return
		}
		started := time.Now()
		reason := l.runSession(ctx, ctl, first, wg)
		first = false
		if ctx.Err() != nil {
			return
		}
		c.send(ctx, liveNote{kind: noteBlind, reason: reason})
		bo.stable(time.Since(started))
		d := bo.delay()
		l.cfg.Logf("restarting the ETW session in %v", d)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		c.c.restarts.Add(1)
		// The new session may have a new time base (a wall-clock step
		// since the last one): its first event re-anchors the clock.
		c.clock.rebase()
	}
}

// traceRun is one started session: its controller (bi-zone's Session),
// its consumer and the channel the consumer goroutine's Process returns
// on. Owned by the session supervisor goroutine.
type traceRun struct {
	// ctl stops the session (bi-zone: disable the provider, ControlTrace
	// STOP); cons closes the consumer's trace handle (CloseTrace).
	ctl, cons io.Closer
	done      chan error
	logf      func(string, ...any)
	stopped   bool
}

// stop closes the consumer's trace handle, then stops the session, once:
// CloseTrace first, so that the handle is closed however the controller
// fares (also when ProcessTrace has already returned: a session stopped
// from outside still leaves the handle open).
func (r *traceRun) stop() {
	if r.stopped {
		return
	}
	r.stopped = true
	if err := r.cons.Close(); err != nil {
		r.logf("closing the ETW consumer: %v", err)
	}
	if err := r.ctl.Close(); err != nil {
		r.logf("closing the ETW session: %v", err)
	}
}

// stopAndWait stops the run and waits up to wait for Process to return,
// with its result; errProcessStuck when it does not return in time (the
// consumer gate then stays shut until it does: superviseSession waits).
func (r *traceRun) stopAndWait(wait time.Duration) error {
	r.stop()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-r.done:
		return err
	case <-t.C:
		r.logf("ProcessTrace did not return within %v of closing the session", wait)
		return errProcessStuck
	}
}

// runSession runs one ETW session until it ends or ctx does, and returns
// why it ended (the sensor.blind reason).
func (l *Sensor) runSession(ctx context.Context, ctl *traceControl, first bool, wg *sync.WaitGroup) string {
	c := l.core
	// startAnyway is for a session that delivers nothing: the first run
	// still lets the consumer start, with the snapshot (the machine's
	// state is still worth knowing) and the registry watch.
	startAnyway := func(reason string) string {
		if first {
			l.sendSnapshot(ctx, 0, first)
			l.startRegistry(ctx, wg)
		}
		return reason
	}
	sess, err := l.openSession()
	if err != nil {
		return startAnyway("cannot start the ETW session: " + err.Error())
	}
	since := c.now()
	cons, err := consumer.Open(l.cfg.SessionName, l.callback)
	if err != nil {
		if cerr := sess.Close(); cerr != nil {
			l.cfg.Logf("closing the ETW session: %v", cerr)
		}
		return startAnyway("cannot consume the ETW session: " + err.Error())
	}
	run := &traceRun{ctl: sess, cons: cons, done: make(chan error, 1), logf: l.cfg.Logf}
	end, err := l.plat.gate.begin()
	if err != nil {
		// The supervisor waited for the gate; only a bug gets here.
		run.stop()
		return "cannot start the ETW session: " + err.Error()
	}
	go func() {
		defer end()
		run.done <- cons.Process()
	}()
	// Enable the provider now that the consumer is open (bi-zone's
	// Process enabled it just before its own OpenTrace).
	if err := sess.UpdateOptions(); err != nil {
		run.stopAndWait(processReturnWait)
		return startAnyway("cannot enable the provider in the ETW session: " + err.Error())
	}

	loggerID, verified := l.waitEnabled(ctx, ctl, run.done)
	if ctx.Err() != nil {
		run.stopAndWait(processReturnWait)
		return ""
	}
	select {
	case err := <-run.done:
		// The session could not deliver events at all.
		run.stop()
		return startAnyway(l.stopReason(err))
	default:
	}
	// What the session looked like as started: the tamper check compares
	// every later query with it (plus the flush timer set below).
	started, startedErr := ctl.queryStats()
	msTimer, secTimer := l.setFlushTimers(ctl)
	want := expectSession(started, msTimer, secTimer)
	if startedErr != nil {
		l.cfg.Logf("session query: %v: session properties not checked", startedErr)
	}
	if !l.cfg.NoRundown {
		if st, err := ctl.queryStats(); err == nil {
			if err := captureState(st.handle, &l.plat.provider); err != nil {
				l.cfg.Logf("no process rundown: %v", err)
			}
		}
	}
	l.sendSnapshot(ctx, since, first)
	if first {
		l.startRegistry(ctx, wg)
	}
	l.cfg.Logf("ETW session %q running (provider %s, keyword 0x10)", l.cfg.SessionName, kernelProcessProvider)

	var health healthWatch
	var flushC <-chan time.Time
	if l.cfg.FlushEvery > 0 {
		ft := time.NewTicker(l.cfg.FlushEvery)
		defer ft.Stop()
		flushC = ft.C
	}
	ht := time.NewTicker(l.cfg.HealthEvery)
	defer ht.Stop()
	var canaryC <-chan time.Time
	if l.core.canary != nil {
		ct := time.NewTicker(l.cfg.CanaryEvery)
		defer ct.Stop()
		canaryC = ct.C
	}
	lastTamper := ""
	lastForeign := c.c.foreign.Load()
	flushes := failStreak{limit: maxFlushFailures}
	for {
		select {
		case <-canaryC:
			l.launchCanary(ctx)
		case <-ctx.Done():
			run.stopAndWait(processReturnWait)
			return ""
		case err := <-run.done:
			run.stop()
			return l.stopReason(err)
		case <-flushC:
			if err := ctl.flushNow(); err != nil {
				c.c.flushErrors.Add(1)
				if flushes.fail() {
					c.send(ctx, liveNote{kind: noteBlind, reason: fmt.Sprintf(
						"%d explicit ETW flushes in a row failed (%v): events may arrive late", maxFlushFailures, err)})
				}
			} else if flushes.ok() {
				l.cfg.Logf("explicit ETW flushes work again")
			}
		case <-ht.C:
			st, err := ctl.queryStats()
			if errors.Is(err, errSessionGone) {
				run.stopAndWait(processReturnWait)
				return "ETW session " + l.cfg.SessionName + " no longer exists (stopped from outside)"
			}
			if err != nil {
				l.cfg.Logf("session query: %v", err)
				continue
			}
			c.c.lostEvents.Store(uint64(st.eventsLost))
			c.c.lostBuffers.Store(uint64(st.rtBuffersLost) + uint64(st.logBuffersLost))
			if r := health.observe(st); r != "" {
				c.send(ctx, liveNote{kind: noteBlind, reason: r})
			}
			// Re-issue our enable on every tick: it puts back keywords,
			// level and properties, and replaces any filter (an event-ID
			// filter is not visible in the enable list; the canary sees
			// its effect).
			if err := sess.UpdateOptions(); err != nil {
				l.cfg.Logf("re-enabling the provider: %v", err)
			}
			if !verified || startedErr != nil {
				continue
			}
			infos, err := ctl.enableInfo(&l.plat.provider)
			if err != nil {
				l.cfg.Logf("provider query: %v", err)
				continue
			}
			foreign := c.c.foreign.Load()
			r := checkSession(want, sessionObserved{stats: st, enables: infos, loggerID: loggerID, foreign: foreign - lastForeign})
			lastForeign = foreign
			if r != "" && r != lastTamper {
				c.send(ctx, liveNote{kind: noteBlind, reason: r})
				if st.flushTimer != want.flushTimer || st.logFileMode != want.logFileMode {
					l.setFlushTimers(ctl)
				}
			}
			lastTamper = r
		}
	}
}

// setFlushTimers makes the session deliver partly filled buffers every
// FlushEvery (250 ms): with the millisecond flush timer where the system
// takes it (Windows 8+), otherwise the 1 s minimum, and in both cases with
// explicit flushes. It returns the millisecond timer set (0: none) and the
// FlushTimer in seconds otherwise.
func (l *Sensor) setFlushTimers(ctl *traceControl) (ms, sec uint32) {
	if ms := flushTimerMS(l.cfg.FlushEvery); ms != 0 {
		err := ctl.setFlushTimerMS(ms)
		if err == nil {
			return ms, 0
		}
		l.cfg.Logf("no millisecond flush timer (%v): FlushTimer 1 s and explicit flushes", err)
	}
	if err := ctl.setFlushTimer(1); err != nil {
		l.cfg.Logf("cannot shorten the session's flush timer: %v", err)
		if st, err := ctl.queryStats(); err == nil {
			return 0, st.flushTimer
		}
	}
	return 0, 1
}

// stopReason is the sensor.blind reason for a session whose Process
// returned with err.
func (l *Sensor) stopReason(err error) string {
	switch {
	case err == nil:
		return "ETW session " + l.cfg.SessionName + " stopped from outside"
	case errors.Is(err, consumer.ErrBusy):
		// consumerGate should make this impossible; another consumer of
		// the same name in this process (or a gate bug) gets here.
		return "ETW session " + l.cfg.SessionName + " not consumed: another ProcessTrace still runs for it in this process"
	default:
		return "ETW session " + l.cfg.SessionName + " stopped: " + err.Error()
	}
}

// waitEnabled waits (up to 5 s) until the provider is enabled in our
// session, so that the rundown request and the snapshot follow it. It
// returns our logger ID and whether enablement could be verified at all;
// when it cannot (the enable list does not show our logger), the tamper
// check is off rather than raising false alarms.
func (l *Sensor) waitEnabled(ctx context.Context, ctl *traceControl, done chan error) (uint16, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := ctl.queryStats()
		if err == nil {
			id := uint16(st.handle & 0xffff)
			if infos, err := ctl.enableInfo(&l.plat.provider); err == nil && checkEnabled(infos, id) == "" {
				return id, true
			}
		}
		select {
		case err := <-done:
			// Process returned already; let the supervisor see it.
			done <- err
			return 0, false
		case <-time.After(20 * time.Millisecond):
		}
	}
	l.cfg.Logf("cannot verify that the provider is enabled in session %q: tamper check off", l.cfg.SessionName)
	return 0, false
}

// sendSnapshot takes a process snapshot and hands it to the consumer.
func (l *Sensor) sendSnapshot(ctx context.Context, since int64, first bool) {
	at := l.core.now()
	s, err := TakeSnapshot()
	if err == nil {
		// Dated by the sensor's clock, not the wall clock (which may
		// have been stepped): see liveClock.
		s.Time = at
		l.cfg.Logf("snapshot: %d processes, boot %v", len(s.Processes), etw.TimeOf(s.BootTime))
	}
	l.core.send(ctx, liveNote{kind: noteSnapshot, snap: s, err: err, since: since})
}

// startRegistry starts the registry watch (after the first snapshot, so
// that the baseline follows the boot evidence).
func (l *Sensor) startRegistry(ctx context.Context, wg *sync.WaitGroup) {
	if l.cfg.NoRegistry {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchRegistry(ctx, l.cfg.Host, l.core, l.cfg.Logf)
		if ctx.Err() == nil {
			l.core.send(ctx, liveNote{kind: noteBlind, reason: "Session Manager registry watch stopped: registry changes are no longer seen"})
		}
	}()
}
