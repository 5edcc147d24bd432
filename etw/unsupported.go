package etw

import (
	"errors"
	"runtime"
)

// ErrUnsupported is wrapped by every error a Windows-only feature (the live
// ETW sensor, the registry watch, the process snapshot, the Windows
// service) returns on another operating system, for example
// "live ETW sensor: not supported on linux". Test for it with errors.Is.
var ErrUnsupported = errors.New("not supported on " + runtime.GOOS)
