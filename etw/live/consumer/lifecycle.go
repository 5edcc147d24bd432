//go:build !windows || cgo

package consumer

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
)

// This file is the platform-neutral half of Consumer: its lifecycle
// (open -> processing -> done, closed at any point), the process-wide rule
// of one ProcessTrace per session name, and how ProcessTrace and CloseTrace
// results become errors. The Windows half supplies the three trace calls;
// the tests drive this half with fakes on any OS.

// Win32 codes the lifecycle interprets.
const (
	errorCancelled       = syscall.Errno(1223) // ERROR_CANCELLED
	errorCtxClosePending = syscall.Errno(7007) // ERROR_CTX_CLOSE_PENDING
	errorSuccess         = syscall.Errno(0)
)

// running holds the keys of the session names a ProcessTrace runs for now.
var running = struct {
	sync.Mutex
	names map[string]struct{}
}{names: map[string]struct{}{}}

// sessionKey is a session name as the guard compares it: ETW session
// names are compared without regard to case, and so is this guard (at
// worst it refuses a second consumer it could have allowed).
func sessionKey(name string) string { return strings.ToUpper(name) }

// acquireSession marks a ProcessTrace running for key; false when one is.
func acquireSession(key string) bool {
	running.Lock()
	defer running.Unlock()
	if _, busy := running.names[key]; busy {
		return false
	}
	running.names[key] = struct{}{}
	return true
}

// releaseSession ends acquireSession.
func releaseSession(key string) {
	running.Lock()
	delete(running.names, key)
	running.Unlock()
}

// traceOps are the trace calls on one opened trace handle.
type traceOps struct {
	// process runs ProcessTrace on the handle (blocking).
	process func() syscall.Errno
	// close runs CloseTrace on the handle.
	close func() syscall.Errno
	// free releases what the callback needs (the context handle); called
	// once, when the trace is closed and ProcessTrace is not running.
	free func()
}

// lifecycle is a Consumer's state. Its mutex is held only for state
// changes, never across a trace call.
type lifecycle struct {
	name string
	key  string
	ops  traceOps

	mu      sync.Mutex
	closed  bool // Close was called
	running bool // ProcessTrace runs now
	ran     bool // ProcessTrace has returned
	freed   bool
}

func newLifecycle(name string, ops traceOps) *lifecycle {
	return &lifecycle{name: name, key: sessionKey(name), ops: ops}
}

// process runs ProcessTrace once, unless the trace is closed, already ran
// or another ProcessTrace runs for the same session name.
func (l *lifecycle) process() error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return fmt.Errorf("ETW consumer of session %q: %w", l.name, ErrClosed)
	case l.running:
		l.mu.Unlock()
		return fmt.Errorf("ETW consumer of session %q: %w", l.name, ErrBusy)
	case l.ran:
		l.mu.Unlock()
		return fmt.Errorf("ETW consumer of session %q: Process already returned: %w", l.name, ErrClosed)
	}
	if !acquireSession(l.key) {
		l.mu.Unlock()
		return fmt.Errorf("ETW consumer of session %q: %w", l.name, ErrBusy)
	}
	l.running = true
	l.mu.Unlock()

	e := l.ops.process()

	l.mu.Lock()
	l.running = false
	l.ran = true
	releaseSession(l.key)
	closed := l.closed
	if closed {
		l.freeLocked()
	}
	l.mu.Unlock()
	switch {
	case e == errorSuccess || e == errorCancelled:
		return nil
	case closed:
		// Close won the race with the start of ProcessTrace.
		return fmt.Errorf("ETW consumer of session %q: ProcessTrace: %w: %w", l.name, e, ErrClosed)
	default:
		return fmt.Errorf("ETW consumer of session %q: ProcessTrace: %w", l.name, e)
	}
}

// close runs CloseTrace the first time it is called and returns nil on
// every later call.
func (l *lifecycle) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	busy := l.running
	l.mu.Unlock()

	e := l.ops.close()

	if !busy {
		// ProcessTrace has returned or will never start: nothing can call
		// back any more. (While it runs, process frees on its way out.)
		l.mu.Lock()
		l.freeLocked()
		l.mu.Unlock()
	}
	if e != errorSuccess && e != errorCtxClosePending {
		return fmt.Errorf("ETW consumer of session %q: CloseTrace: %w", l.name, e)
	}
	return nil
}

func (l *lifecycle) freeLocked() {
	if !l.freed {
		l.freed = true
		l.ops.free()
	}
}
