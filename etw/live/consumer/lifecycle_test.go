//go:build !windows || cgo

package consumer

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeTrace stands in for the trace calls: ProcessTrace blocks until
// CloseTrace (or end, the session stopping) and then returns processRet.
// It records calls and flags a free while ProcessTrace runs.
type fakeTrace struct {
	processRet, closeRet syscall.Errno
	// duringProcess, when set, runs inside ProcessTrace before it blocks.
	duringProcess func()

	started  chan struct{}
	stop     chan struct{}
	stopOnce sync.Once

	inProcess                atomic.Bool
	processes, closes, frees atomic.Int32
	freedWhileProcessing     atomic.Bool
}

func newFake() *fakeTrace {
	return &fakeTrace{started: make(chan struct{}, 8), stop: make(chan struct{})}
}

func (f *fakeTrace) end() { f.stopOnce.Do(func() { close(f.stop) }) }

func (f *fakeTrace) ops() traceOps {
	return traceOps{
		process: func() syscall.Errno {
			f.inProcess.Store(true)
			defer f.inProcess.Store(false)
			f.processes.Add(1)
			f.started <- struct{}{}
			if f.duringProcess != nil {
				f.duringProcess()
			}
			<-f.stop
			return f.processRet
		},
		close: func() syscall.Errno {
			f.closes.Add(1)
			f.end()
			return f.closeRet
		},
		free: func() {
			if f.inProcess.Load() {
				f.freedWhileProcessing.Store(true)
			}
			f.frees.Add(1)
		},
	}
}

// startProcess runs l.process on a goroutine and waits until the fake
// ProcessTrace is entered; the returned channel yields its result.
func startProcess(t *testing.T, l *lifecycle, f *fakeTrace) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.process() }()
	select {
	case <-f.started:
	case err := <-done:
		t.Fatalf("Process returned before ProcessTrace started: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("ProcessTrace not entered within 10 s")
	}
	return done
}

// wait returns Process's result, failing the test after 10 s.
func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Process did not return within 10 s")
		return nil
	}
}

func checkCounts(t *testing.T, f *fakeTrace, processes, closes, frees int32) {
	t.Helper()
	if got := f.processes.Load(); got != processes {
		t.Errorf("ProcessTrace called %d times, want %d", got, processes)
	}
	if got := f.closes.Load(); got != closes {
		t.Errorf("CloseTrace called %d times, want %d", got, closes)
	}
	if got := f.frees.Load(); got != frees {
		t.Errorf("context freed %d times, want %d", got, frees)
	}
	if f.freedWhileProcessing.Load() {
		t.Error("context freed while ProcessTrace ran")
	}
}

// TestLifecycleOrders drives Close and Process in every order the API
// allows.
func TestLifecycleOrders(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, l *lifecycle, f *fakeTrace)
	}{
		{"Close without Process, then Process", func(t *testing.T, l *lifecycle, f *fakeTrace) {
			if err := l.close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			checkCounts(t, f, 0, 1, 1)
			if err := l.process(); !errors.Is(err, ErrClosed) {
				t.Errorf("Process after Close = %v, want ErrClosed", err)
			}
			checkCounts(t, f, 0, 1, 1)
		}},
		{"Close twice", func(t *testing.T, l *lifecycle, f *fakeTrace) {
			for i := 0; i < 2; i++ {
				if err := l.close(); err != nil {
					t.Fatalf("Close #%d: %v", i+1, err)
				}
			}
			checkCounts(t, f, 0, 1, 1)
		}},
		{"Close during Process (close pending)", func(t *testing.T, l *lifecycle, f *fakeTrace) {
			f.closeRet = errorCtxClosePending
			done := startProcess(t, l, f)
			if err := l.close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := wait(t, done); err != nil {
				t.Errorf("Process after Close = %v, want nil", err)
			}
			if err := l.close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			checkCounts(t, f, 1, 1, 1)
		}},
		{"session stops, then Close", func(t *testing.T, l *lifecycle, f *fakeTrace) {
			done := startProcess(t, l, f)
			f.end()
			if err := wait(t, done); err != nil {
				t.Errorf("Process = %v, want nil", err)
			}
			checkCounts(t, f, 1, 0, 0) // the handle still needs CloseTrace
			if err := l.close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			checkCounts(t, f, 1, 1, 1)
		}},
		{"second Process", func(t *testing.T, l *lifecycle, f *fakeTrace) {
			done := startProcess(t, l, f)
			f.end()
			if err := wait(t, done); err != nil {
				t.Fatalf("Process = %v", err)
			}
			if err := l.process(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Process = %v, want ErrClosed", err)
			}
			l.close()
			checkCounts(t, f, 1, 1, 1)
		}},
		{"concurrent Process on one Consumer", func(t *testing.T, l *lifecycle, f *fakeTrace) {
			done := startProcess(t, l, f)
			if err := l.process(); !errors.Is(err, ErrBusy) {
				t.Errorf("concurrent Process = %v, want ErrBusy", err)
			}
			l.close()
			if err := wait(t, done); err != nil {
				t.Errorf("Process = %v", err)
			}
			checkCounts(t, f, 1, 1, 1)
		}},
		{"Close between the start of Process and ProcessTrace", func(t *testing.T, l *lifecycle, f *fakeTrace) {
			// ProcessTrace then finds the handle closed.
			f.processRet = syscall.Errno(6) // ERROR_INVALID_HANDLE
			f.duringProcess = func() {
				if err := l.close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			err := l.process()
			if !errors.Is(err, ErrClosed) || !errors.Is(err, syscall.Errno(6)) {
				t.Errorf("Process = %v, want ErrClosed and the Win32 code", err)
			}
			checkCounts(t, f, 1, 1, 1)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			tc.run(t, newLifecycle("smsswatch-test", f.ops()), f)
		})
	}
}

// TestLifecycleCodes checks how ProcessTrace and CloseTrace codes map to
// errors.
func TestLifecycleCodes(t *testing.T) {
	tests := []struct {
		name                 string
		processRet, closeRet syscall.Errno
		processErr, closeErr error // nil: success expected
	}{
		{"success", 0, 0, nil, nil},
		{"ProcessTrace cancelled, close pending", errorCancelled, errorCtxClosePending, nil, nil},
		{"ProcessTrace fails", syscall.Errno(5), 0, syscall.Errno(5), nil},
		{"CloseTrace fails", 0, syscall.Errno(6), nil, syscall.Errno(6)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.processRet, f.closeRet = tc.processRet, tc.closeRet
			l := newLifecycle("smsswatch-codes", f.ops())
			done := startProcess(t, l, f)
			f.end() // ProcessTrace returns by itself
			if err := wait(t, done); (tc.processErr == nil) != (err == nil) || (err != nil && !errors.Is(err, tc.processErr)) {
				t.Errorf("Process = %v, want %v", err, tc.processErr)
			}
			if err := l.close(); (tc.closeErr == nil) != (err == nil) || (err != nil && !errors.Is(err, tc.closeErr)) {
				t.Errorf("Close = %v, want %v", err, tc.closeErr)
			}
			if err := l.close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		})
	}
}

// TestOneProcessTracePerSession checks that no two ProcessTrace calls
// run at once for one session name, across Consumers.
func TestOneProcessTracePerSession(t *testing.T) {
	fa := newFake()
	a := newLifecycle("smsswatch-guard", fa.ops())
	doneA := startProcess(t, a, fa)

	tests := []struct {
		name string
		busy bool
	}{
		{"smsswatch-guard", true},
		{"SMSSWATCH-Guard", true}, // ETW session names ignore case
		{"smsswatch-other", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			l := newLifecycle(tc.name, f.ops())
			defer l.close()
			if !tc.busy {
				done := startProcess(t, l, f)
				l.close()
				if err := wait(t, done); err != nil {
					t.Errorf("Process = %v", err)
				}
				return
			}
			if err := l.process(); !errors.Is(err, ErrBusy) {
				t.Errorf("Process while %q runs = %v, want ErrBusy", a.name, err)
			}
			if f.processes.Load() != 0 {
				t.Error("ProcessTrace was called")
			}
		})
	}

	t.Run("free again once ProcessTrace returned", func(t *testing.T) {
		a.close()
		if err := wait(t, doneA); err != nil {
			t.Fatalf("Process = %v", err)
		}
		f := newFake()
		l := newLifecycle("smsswatch-guard", f.ops())
		done := startProcess(t, l, f)
		l.close()
		if err := wait(t, done); err != nil {
			t.Errorf("Process = %v", err)
		}
	})
}
