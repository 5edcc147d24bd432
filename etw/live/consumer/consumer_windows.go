//go:build windows && cgo

package consumer

/*
#cgo LDFLAGS: -ladvapi32
#include "consumer_windows.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Consumer consumes one real-time ETW session: Open, then Process on the
// goroutine that is to carry the callback, and Close from any goroutine.
type Consumer struct {
	life *lifecycle
	fn   func(*Record)
	// name is the UTF-16 session name OpenTraceW was given, kept as long
	// as the handle.
	name []uint16
	// ctx travels through EVENT_TRACE_LOGFILEW.Context to the callback.
	ctx    cgo.Handle
	handle C.TRACEHANDLE
}

// Open opens a trace processing handle on the running real-time session
// sessionName (OpenTraceW; the session is started by its controller, not
// here). fn receives every event of the session on the ProcessTrace
// thread, one at a time; it must only copy or enqueue what it needs, since
// the Record is ETW's and is reused once fn returns, and it must not
// panic (a panic would unwind through ProcessTrace's C frames, skipping
// ETW's own clean-up). The Consumer must be closed even if Process is never called.
func Open(sessionName string, fn func(*Record)) (*Consumer, error) {
	if fn == nil {
		return nil, errors.New("ETW consumer: nil callback")
	}
	if sessionName == "" {
		return nil, errors.New("ETW consumer: empty session name")
	}
	name, err := windows.UTF16FromString(sessionName)
	if err != nil {
		return nil, fmt.Errorf("ETW consumer: session name %q: %w", sessionName, err)
	}
	c := &Consumer{fn: fn, name: name}
	c.ctx = cgo.NewHandle(c)
	var lastErr C.DWORD
	c.handle = C.smssOpenTrace((*C.WCHAR)(unsafe.Pointer(&name[0])), C.uintptr_t(c.ctx), &lastErr)
	if c.handle == C.SMSS_INVALID_TRACE {
		c.ctx.Delete()
		e := syscall.Errno(lastErr)
		if e == 0 {
			// Not set by this OpenTraceW: still a failure.
			e = syscall.Errno(windows.ERROR_GEN_FAILURE)
		}
		return nil, fmt.Errorf("ETW consumer: OpenTraceW on real-time session %q: %w", sessionName, e)
	}
	c.life = c.newLifecycle(sessionName)
	return c, nil
}

// newLifecycle binds the lifecycle's trace calls to c.handle and c.ctx.
func (c *Consumer) newLifecycle(sessionName string) *lifecycle {
	return newLifecycle(sessionName, traceOps{
		process: func() syscall.Errno { return syscall.Errno(C.smssProcessTrace(c.handle)) },
		close:   func() syscall.Errno { return syscall.Errno(C.CloseTrace(c.handle)) },
		free:    c.ctx.Delete,
	})
}

// Process delivers the session's events to the callback on the calling
// goroutine (locked to its thread meanwhile) and blocks until the trace
// ends: Close was called, or the session stopped. It returns nil then, an
// error wrapping the Win32 code when ProcessTrace fails, one wrapping
// ErrClosed when Close came first or Process already ran, and one
// wrapping ErrBusy while another ProcessTrace runs for the same session
// name in this process.
func (c *Consumer) Process() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return c.life.process()
}

// Close closes the trace handle (CloseTrace). A running Process returns
// once ETW has delivered the events already in its buffers. Close may be
// called from any goroutine, before, during or after Process, and more
// than once (later calls return nil).
func (c *Consumer) Close() error {
	return c.life.close()
}

// smsswatchConsumerEvent is the EventRecordCallback's way into Go (through
// the stdcall wrapper in consumer_windows.c), on the ProcessTrace thread.
//
//export smsswatchConsumerEvent
func smsswatchConsumerEvent(rec *C.EVENT_RECORD) {
	dispatch((*Record)(unsafe.Pointer(rec)))
}

// dispatch hands r to its Consumer's callback: no allocation, no lock
// beyond cgo.Handle's lookup. The handle is valid: it is deleted only once
// ProcessTrace has returned.
func dispatch(r *Record) {
	if c, ok := cgo.Handle(r.UserContext).Value().(*Consumer); ok {
		c.fn(r)
	}
}
