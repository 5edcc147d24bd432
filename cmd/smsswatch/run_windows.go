package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// isWindowsService reports whether the service manager started this
// process (then run talks to it instead of a console).
func isWindowsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// serviceHandler runs the live pipeline under the service manager.
type serviceHandler struct {
	fn   func(ctx context.Context, stopReason func() string) int
	code int
	// reason is set when a stop was requested: an explicit stop is
	// reported as sensor.blind (the sensor goes away on purpose, perhaps
	// by an attacker's `sc stop`), a system shutdown is not.
	mu     sync.Mutex
	reason string
}

func (h *serviceHandler) stopReason() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reason
}

// Execute implements svc.Handler.
func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- h.fn(ctx, h.stopReason) }()
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case code := <-done:
			// The pipeline ended by itself: an error (the service
			// manager's recovery actions restart it). The exit code
			// goes to the service manager as the service-specific code.
			h.code = code
			status <- svc.Status{State: svc.StopPending}
			return code != exitOK, uint32(code)
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				if c.Cmd == svc.Stop {
					h.mu.Lock()
					h.reason = "smsswatch service stopped (service control request)"
					h.mu.Unlock()
				}
				status <- svc.Status{State: svc.StopPending, WaitHint: 30000}
				cancel()
				select {
				case code := <-done:
					h.code = code
					return code != exitOK, uint32(code)
				case <-time.After(25 * time.Second):
					h.code = exitError
					return true, exitError
				}
			}
		}
	}
}

// runAsService runs fn under the service manager as service name and
// returns its exit code.
func runAsService(name string, fn func(ctx context.Context, stopReason func() string) int) int {
	h := &serviceHandler{fn: fn}
	if err := svc.Run(name, h); err != nil {
		return exitError
	}
	// The pipeline's exit code (also given to the service manager as the
	// service-specific exit code).
	return h.code
}

// sensorMutex is the machine-wide mutex held by the live sensor (`run` in
// a console or as the service).
const sensorMutex = `Global\smsswatch-sensor`

// errSensorRunning is returned when another live sensor holds the mutex.
var errSensorRunning = errors.New("another smsswatch live sensor (run or the service) is running on this machine")

// acquireSensorMutex takes the named mutex Global\smsswatch-sensor, so that
// `run` and the service never fight over the ETW session; release frees
// it.
func acquireSensorMutex() (release func(), err error) {
	name, err := windows.UTF16PtrFromString(sensorMutex)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateMutex(nil, false, name)
	if errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		if h != 0 {
			windows.CloseHandle(h)
		}
		return nil, fmt.Errorf("%w (mutex %s exists)", errSensorRunning, sensorMutex)
	}
	if err != nil {
		return nil, fmt.Errorf("create mutex %s: %w", sensorMutex, err)
	}
	return func() { windows.CloseHandle(h) }, nil
}
