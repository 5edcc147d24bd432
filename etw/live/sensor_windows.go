//go:build windows && cgo

package live

// The live sensor keeps github.com/bi-zone/etw (the pinned
// v0.0.0-20210519083747-fe9042eb0ea8) for the session: StartTrace,
// EnableTraceEx2, OpenTrace/ProcessTrace with its C callback, and stop. It
// no longer asks it for properties: bi-zone's EventProperties runs TDH per
// event (2-5 ms, and at this commit it aborts every ProcessStart on its
// Flags property, the library's PR #9), and ExtendedInfo copies. Instead
// the callback reaches the raw EVENT_RECORD through bizEvent below, an
// unsafe view of bi-zone's Event whose only assumption (Event is
// {Header EventHeader; eventRecord C.PEVENT_RECORD}) is pinned three ways:
// a compile-time size check here, a reflect check in live_windows_test.go
// (wine, Windows), and TestBizoneEventLayout, which parses the module's
// source on any OS. The event data is decoded by etw/kernelproc (pure Go,
// fixed manifest layouts) and the SID and terminal-session extended items
// are read from EVENT_RECORD.ExtendedData directly.
//
// Why not the Velocidex/etw fork: it would fix the Flags abort, but still
// decode through TDH (the 2-5 ms cost) and swap the whole session API for
// one line of pointer arithmetic; bi-zone stays the one pinned ETW
// dependency. What bi-zone does not allow: CloseTrace (the consumer's
// TRACEHANDLE is a local of its processEvents and is never closed, so each
// session restart leaks one consumer handle, bounded by the restart
// back-off), and a millisecond FlushTimer at StartTrace (set afterwards
// with ControlTrace UPDATE, see setFlushTimerMS).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/smsswatch/smsswatch/etw"

	bizetw "github.com/bi-zone/etw"
	"golang.org/x/sys/windows"
)

// livePlatform is the Windows-only state of Sensor.
type livePlatform struct {
	provider windows.GUID
	// cbHost is the host name the callback puts in events.
	cbHost string
	// kp and ev are the callback's decoder and event (the ProcessTrace
	// thread's only; bi-zone calls the callback sequentially).
	kp *kpDecoder
	ev etw.Event
	// gate keeps one ProcessTrace consumer at a time.
	gate *consumerGate
}

// bizEvent mirrors github.com/bi-zone/etw's Event: the exported header,
// then the unexported C.PEVENT_RECORD.
type bizEvent struct {
	Header bizetw.EventHeader
	record *eventRecordRaw
}

// The mirror has bi-zone's size (a change of the library that adds or
// removes fields fails to compile here).
var (
	_ [unsafe.Sizeof(bizetw.Event{}) - unsafe.Sizeof(bizEvent{})]struct{}
	_ [unsafe.Sizeof(bizEvent{}) - unsafe.Sizeof(bizetw.Event{})]struct{}
)

// rawRecord returns the EVENT_RECORD behind a bi-zone event (valid only
// inside the callback).
func rawRecord(e *bizetw.Event) *eventRecordRaw {
	return (*bizEvent)(unsafe.Pointer(e)).record
}

// eventHeaderFlagStringOnly is EVENT_HEADER_FLAG_STRING_ONLY: UserData is a
// string, not the template's fields.
const eventHeaderFlagStringOnly = 0x0004

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
	provider, err := windows.GUIDFromString(KernelProcessProvider)
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
// the provider and the event ID on the header, decodes the raw record in
// pure Go (no TDH, no map) and copies the event into the queue. It never
// blocks, logs or locks, and allocates only when a new image path or SID
// enters its caches or a key arena is full.
func (l *Sensor) callback(e *bizetw.Event) {
	c := l.core
	if e.Header.ProviderID != l.plat.provider {
		c.c.foreign.Add(1)
		return
	}
	if !WantKernelProcessEvent(e.Header.ID) {
		c.c.filtered.Add(1)
		return
	}
	rec := rawRecord(e)
	if rec == nil || rec.Header.Flags&eventHeaderFlagStringOnly != 0 {
		c.c.decodeErrors.Add(1)
		return
	}
	h := kpHeader{
		eventID:   e.Header.ID,
		version:   e.Header.Version,
		flags:     rec.Header.Flags,
		processID: e.Header.ProcessID,
		timeStamp: e.Header.TimeStamp.UnixNano(),
	}
	if h.eventID == EventProcessStart && rec.ExtendedDataCount > 0 && rec.ExtendedData != nil {
		// The creator's user and session: the SID and TS_ID items.
		items := unsafe.Slice((*extDataItemRaw)(rec.ExtendedData), rec.ExtendedDataCount)
		for i := range items {
			it := &items[i]
			// DataPtr is a ULONGLONG holding a pointer (its low half on
			// 32-bit Windows).
			p := *(*unsafe.Pointer)(unsafe.Pointer(&it.DataPtr))
			if p == nil || it.DataSize == 0 {
				continue
			}
			h.addExt(it.ExtType, unsafe.Slice((*byte)(p), it.DataSize))
		}
	}
	var data []byte
	if rec.UserData != nil && rec.UserDataLength > 0 {
		data = unsafe.Slice((*byte)(rec.UserData), rec.UserDataLength)
	}
	ev := &l.plat.ev
	partial, err := l.plat.kp.decode(&h, data, l.plat.cbHost, ev)
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
		bizetw.WithMatchKeywords(KernelProcessKeywordProcess, 0),
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

// runSession runs one ETW session until it ends or ctx does, and returns
// why it ended (the sensor.blind reason).
func (l *Sensor) runSession(ctx context.Context, ctl *traceControl, first bool, wg *sync.WaitGroup) string {
	c := l.core
	sess, err := l.openSession()
	if err != nil {
		if first {
			// Let the consumer start anyway, with the snapshot: the
			// machine's state is still worth knowing.
			l.sendSnapshot(ctx, 0, first)
			l.startRegistry(ctx, wg)
		}
		return "cannot start the ETW session: " + err.Error()
	}
	since := c.now()
	end, err := l.plat.gate.begin()
	if err != nil {
		// The supervisor waited for the gate; only a bug gets here.
		sess.Close()
		return "cannot start the ETW session: " + err.Error()
	}
	done := make(chan error, 1)
	go func() {
		defer end()
		done <- sess.Process(l.callback)
	}()
	closeSession := func() error {
		if err := sess.Close(); err != nil {
			l.cfg.Logf("closing the ETW session: %v", err)
		}
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			// The gate stays shut until it does return: the next
			// start waits for it (superviseSession).
			l.cfg.Logf("ProcessTrace did not return within 10 s of closing the session")
			return errors.New("ProcessTrace did not return after the session was closed")
		}
	}

	loggerID, verified := l.waitEnabled(ctx, ctl, done)
	if ctx.Err() != nil {
		closeSession()
		return ""
	}
	select {
	case err := <-done:
		// The session could not deliver events at all.
		sess.Close()
		if first {
			l.sendSnapshot(ctx, 0, first)
			l.startRegistry(ctx, wg)
		}
		return l.stopReason(err)
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
	l.cfg.Logf("ETW session %q running (provider %s, keyword 0x10)", l.cfg.SessionName, KernelProcessProvider)

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
			closeSession()
			return ""
		case err := <-done:
			sess.Close()
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
				closeSession()
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
	if err == nil {
		return "ETW session " + l.cfg.SessionName + " stopped from outside"
	}
	// bi-zone/etw formats a missing GetLastError as "%!w(<nil>)".
	msg := strings.ReplaceAll(err.Error(), "; %!w(<nil>)", "")
	return "ETW session " + l.cfg.SessionName + " stopped: " + msg
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
