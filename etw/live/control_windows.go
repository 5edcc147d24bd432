//go:build windows && cgo

package live

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The trace-control calls github.com/bi-zone/etw does not expose: query,
// flush and update a session by name, request capture state (rundown), and
// list how sessions enable a provider. They are plain advapi32 calls (no
// cgo); the buffers are laid out by health.go.

var (
	modadvapi32               = windows.NewLazySystemDLL("advapi32.dll")
	procControlTraceW         = modadvapi32.NewProc("ControlTraceW")
	procEnableTraceEx2        = modadvapi32.NewProc("EnableTraceEx2")
	procEnumerateTraceGuidsEx = modadvapi32.NewProc("EnumerateTraceGuidsEx")
)

// callProc calls p, or fails when this Windows (or wine) lacks it
// (LazyProc.Call would panic).
func callProc(p *windows.LazyProc, args ...uintptr) (uintptr, error) {
	if err := p.Find(); err != nil {
		return 0, err
	}
	r, _, _ := p.Call(args...)
	return r, nil
}

// errSessionGone is returned when the named session does not exist
// (ERROR_WMI_INSTANCE_NOT_FOUND): it was stopped, from outside or not.
var errSessionGone = errors.New("ETW session does not exist")

const (
	errorWMIInstanceNotFound = windows.Errno(4201)
	eventControlCodeCapture  = 2
	traceGUIDQueryInfo       = 1
)

// traceControl holds the reusable buffers of the control calls for one
// session name. Owned by the session supervisor goroutine.
type traceControl struct {
	name  *uint16
	tmpl  []byte
	query []byte
	flush []byte
	guids []byte
}

func newTraceControl(name string) (*traceControl, error) {
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, fmt.Errorf("ETW session name %q: %w", name, err)
	}
	return &traceControl{name: n, tmpl: newTracePropertiesBuffer()[:etpSize], query: newTracePropertiesBuffer(), flush: newTracePropertiesBuffer(),
		guids: make([]byte, 4096)}, nil
}

// call runs ControlTraceW by name on buf (re-initialised first).
func (t *traceControl) call(buf []byte, code uint32) error {
	clear(buf)
	copy(buf, t.tmpl)
	r, err := callProc(procControlTraceW, 0, uintptr(unsafe.Pointer(t.name)), uintptr(unsafe.Pointer(&buf[0])), uintptr(code))
	if err != nil {
		return err
	}
	switch e := windows.Errno(r); e {
	case 0, windows.ERROR_MORE_DATA:
		return nil
	case errorWMIInstanceNotFound:
		return errSessionGone
	default:
		return e
	}
}

// queryStats returns the session's properties and counters.
func (t *traceControl) queryStats() (traceStats, error) {
	if err := t.call(t.query, controlTraceQuery); err != nil {
		return traceStats{}, fmt.Errorf("ControlTrace QUERY: %w", err)
	}
	return parseTraceProperties(t.query)
}

// flushNow makes the session deliver its partly filled buffers now.
func (t *traceControl) flushNow() error {
	if err := t.call(t.flush, controlTraceFlush); err != nil {
		return fmt.Errorf("ControlTrace FLUSH: %w", err)
	}
	return nil
}

// setFlushTimer sets the session's FlushTimer (seconds) with a
// query-modify-update.
func (t *traceControl) setFlushTimer(seconds uint32) error {
	if err := t.call(t.query, controlTraceQuery); err != nil {
		return fmt.Errorf("ControlTrace QUERY: %w", err)
	}
	setFlushTimer(t.query, seconds)
	r, err := callProc(procControlTraceW, 0, uintptr(unsafe.Pointer(t.name)), uintptr(unsafe.Pointer(&t.query[0])), controlTraceUpdate)
	if err != nil {
		return fmt.Errorf("ControlTrace UPDATE: %w", err)
	}
	if e := windows.Errno(r); e != 0 {
		return fmt.Errorf("ControlTrace UPDATE FlushTimer=%d: %w", seconds, e)
	}
	return nil
}

// captureState asks the provider to write its rundown (ProcessRundown,
// event 15, for every running process) into session handle.
func captureState(handle uint64, provider *windows.GUID) error {
	r, err := callProc(procEnableTraceEx2, uintptr(handle), uintptr(unsafe.Pointer(provider)), eventControlCodeCapture,
		4, uintptr(kernelProcessKeywordProcess), 0, 0, 0)
	if err != nil {
		return fmt.Errorf("EnableTraceEx2: %w", err)
	}
	if e := windows.Errno(r); e != 0 {
		return fmt.Errorf("EnableTraceEx2 CAPTURE_STATE: %w", e)
	}
	return nil
}

// enableInfo lists how every session enables provider.
func (t *traceControl) enableInfo(provider *windows.GUID) ([]traceEnableInfo, error) {
	for tries := 0; tries < 4; tries++ {
		var ret uint32
		r, err := callProc(procEnumerateTraceGuidsEx, traceGUIDQueryInfo, uintptr(unsafe.Pointer(provider)),
			unsafe.Sizeof(*provider), uintptr(unsafe.Pointer(&t.guids[0])), uintptr(len(t.guids)), uintptr(unsafe.Pointer(&ret)))
		if err != nil {
			return nil, fmt.Errorf("EnumerateTraceGuidsEx: %w", err)
		}
		switch e := windows.Errno(r); e {
		case 0:
			n := int(ret)
			if n > len(t.guids) {
				n = len(t.guids)
			}
			return parseTraceGuidInfo(t.guids[:n])
		case windows.ERROR_INSUFFICIENT_BUFFER, windows.ERROR_MORE_DATA:
			if int(ret) <= len(t.guids) || ret > 1<<20 {
				return nil, fmt.Errorf("EnumerateTraceGuidsEx: %w", e)
			}
			t.guids = make([]byte, ret)
		default:
			return nil, fmt.Errorf("EnumerateTraceGuidsEx: %w", e)
		}
	}
	return nil, errors.New("EnumerateTraceGuidsEx: buffer keeps growing")
}

// setFlushTimerMS switches the session to the millisecond flush timer
// (EVENT_TRACE_USE_MS_FLUSH_TIMER) at ms, with a query-modify-update, and
// checks with a second query that the session took it.
func (t *traceControl) setFlushTimerMS(ms uint32) error {
	if err := t.call(t.query, controlTraceQuery); err != nil {
		return fmt.Errorf("ControlTrace QUERY: %w", err)
	}
	setFlushTimerMSBuf(t.query, ms)
	r, err := callProc(procControlTraceW, 0, uintptr(unsafe.Pointer(t.name)), uintptr(unsafe.Pointer(&t.query[0])), controlTraceUpdate)
	if err != nil {
		return fmt.Errorf("ControlTrace UPDATE: %w", err)
	}
	if e := windows.Errno(r); e != 0 {
		return fmt.Errorf("ControlTrace UPDATE FlushTimer=%d ms: %w", ms, e)
	}
	st, err := t.queryStats()
	if err != nil {
		return err
	}
	if !msFlushTimerSet(st, ms) {
		return fmt.Errorf("the session kept LogFileMode %#x FlushTimer %d", st.logFileMode, st.flushTimer)
	}
	return nil
}

// ControlTrace control codes.
const (
	controlTraceQuery  = 0
	controlTraceUpdate = 2
	controlTraceFlush  = 3
)

// maxFlushFailures is how many explicit flushes in a row may fail before
// the sensor says it is blind (its delivery bound no longer holds).
const maxFlushFailures = 5
