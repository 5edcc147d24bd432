//go:build cgo

package etw

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	bizetw "github.com/bi-zone/etw"
	"golang.org/x/sys/windows"
)

// livePlatform is the Windows-only state of Live.
type livePlatform struct {
	provider windows.GUID
	// sids caches creator SIDs rendered as strings, keyed by the SID's
	// bytes; touched by the ETW callback only.
	sids map[string]string
	// cbHost is the host name the callback puts in events.
	cbHost string
}

// maxSIDCache bounds the callback's SID cache (reset when full).
const maxSIDCache = 1024

// NewLive prepares the live sensor: it reads the computer name, the
// Windows folder and the drive-to-device map. It starts nothing; Run does.
// The process must run as an administrator or LocalSystem.
func NewLive(cfg LiveConfig) (*Live, error) {
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
	core, err := newLiveCore(cfg, &winEnricher{}, nil)
	if err != nil {
		return nil, err
	}
	core.systemDevice = SystemDeviceOf(root, devices)
	return &Live{cfg: cfg, core: core, systemRoot: root, devices: devices,
		plat: livePlatform{provider: provider, sids: map[string]string{}, cbHost: cfg.Host}}, nil
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
func (l *Live) Run(ctx context.Context, h Handler) error {
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

// callback is the ETW event callback (the ProcessTrace thread). It decides
// on the header alone whether the event matters, then copies the decoded
// event into the queue. It never blocks and takes no lock; bi-zone/etw's
// EventProperties and ExtendedInfo allocate (see docs/windows.md).
func (l *Live) callback(e *bizetw.Event) {
	c := l.core
	if !WantKernelProcessEvent(e.Header.ID) {
		c.c.filtered.Add(1)
		return
	}
	props, err := e.EventProperties()
	if err != nil {
		c.c.decodeErrors.Add(1)
		return
	}
	h := TDHHeader{
		EventID:   e.Header.ID,
		Version:   e.Header.Version,
		ProcessID: e.Header.ProcessID,
		TimeStamp: e.Header.TimeStamp.UnixNano(),
	}
	if e.Header.ID == EventProcessStart {
		// The creator's user and session: extended data items, asked for
		// only where the decoder uses them.
		ext := e.ExtendedInfo()
		if ext.UserSID != nil {
			h.UserSID = l.sidString(ext.UserSID)
		}
		if ext.SessionID != nil {
			h.TerminalSession, h.HasTerminalSession = *ext.SessionID, true
		}
	}
	var ev Event
	if err := DecodeKernelProcess(&h, props, l.plat.cbHost, &ev); err != nil {
		c.c.decodeErrors.Add(1)
		return
	}
	c.push(&ev)
}

// sidString renders sid, from a cache keyed by its bytes (the creator SIDs
// of a machine are few).
func (l *Live) sidString(sid *windows.SID) string {
	if !sid.IsValid() {
		return ""
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(sid)), windows.GetLengthSid(sid))
	if s, ok := l.plat.sids[string(b)]; ok {
		return s
	}
	s := sid.String()
	if len(l.plat.sids) >= maxSIDCache {
		clear(l.plat.sids)
	}
	l.plat.sids[string(b)] = s
	return s
}

// openSession creates the ETW session, stopping a same-named one a crash
// left behind.
func (l *Live) openSession() (*bizetw.Session, error) {
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
func (l *Live) superviseSession(ctx context.Context, wg *sync.WaitGroup) {
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
	}
}

// runSession runs one ETW session until it ends or ctx does, and returns
// why it ended (the sensor.blind reason).
func (l *Live) runSession(ctx context.Context, ctl *traceControl, first bool, wg *sync.WaitGroup) string {
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
	since := time.Now().UnixNano()
	done := make(chan error, 1)
	go func() { done <- sess.Process(l.callback) }()
	closeSession := func() error {
		if err := sess.Close(); err != nil {
			l.cfg.Logf("closing the ETW session: %v", err)
		}
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
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
	if err := ctl.setFlushTimer(1); err != nil {
		l.cfg.Logf("cannot shorten the session's flush timer: %v", err)
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
	lastTamper := ""
	for {
		select {
		case <-ctx.Done():
			closeSession()
			return ""
		case err := <-done:
			sess.Close()
			return l.stopReason(err)
		case <-flushC:
			_ = ctl.flushNow()
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
			if !verified {
				continue
			}
			infos, err := ctl.enableInfo(&l.plat.provider)
			if err != nil {
				l.cfg.Logf("provider query: %v", err)
				continue
			}
			r := checkEnabled(infos, loggerID)
			if r != "" && r != lastTamper {
				c.send(ctx, liveNote{kind: noteBlind, reason: r})
				// Put our subscription back.
				if err := sess.UpdateOptions(); err != nil {
					l.cfg.Logf("re-enabling the provider: %v", err)
				}
			}
			lastTamper = r
		}
	}
}

// stopReason is the sensor.blind reason for a session whose Process
// returned with err.
func (l *Live) stopReason(err error) string {
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
func (l *Live) waitEnabled(ctx context.Context, ctl *traceControl, done chan error) (uint16, bool) {
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
func (l *Live) sendSnapshot(ctx context.Context, since int64, first bool) {
	s, err := TakeSnapshot()
	if err == nil {
		l.cfg.Logf("snapshot: %d processes, boot %v", len(s.Processes), TimeOf(s.BootTime))
	}
	l.core.send(ctx, liveNote{kind: noteSnapshot, snap: s, err: err, since: since})
}

// startRegistry starts the registry watch (after the first snapshot, so
// that the baseline follows the boot evidence).
func (l *Live) startRegistry(ctx context.Context, wg *sync.WaitGroup) {
	if l.cfg.NoRegistry {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchRegistry(ctx, l.cfg.Host, l.core, l.cfg.Logf)
	}()
}
