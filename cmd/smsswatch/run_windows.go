package main

import (
	"context"
	"sync"
	"time"

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
			// manager's recovery actions restart it).
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
					return false, uint32(code)
				case <-time.After(25 * time.Second):
					return false, 0
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
	return exitOK
}
