//go:build !windows

package main

import "context"

// isWindowsService reports whether the process was started by the Windows
// service manager (never, elsewhere).
func isWindowsService() bool { return false }

// runAsService runs fn as the Windows service; elsewhere it just runs fn.
func runAsService(_ string, fn func(ctx context.Context, stopReason func() string) int) int {
	return fn(context.Background(), func() string { return "" })
}

// acquireSensorMutex guards the Windows live sensor; elsewhere there is
// none to guard.
func acquireSensorMutex() (release func(), err error) { return func() {}, nil }
