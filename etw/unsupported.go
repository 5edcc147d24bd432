package etw

import (
	"errors"
	"runtime"
)

// ErrUnsupported is wrapped by every error a Windows-only feature (the live
// ETW sensor, the registry watch, the process snapshot, the Windows
// service) returns on another operating system, for example
// "live ETW sensor: not supported on linux". It matches
// errors.ErrUnsupported too; test for either with errors.Is.
var ErrUnsupported error = unsupported{}

// unsupported reads "not supported on <GOOS>" and is errors.ErrUnsupported.
type unsupported struct{}

func (unsupported) Error() string { return "not supported on " + runtime.GOOS }

// Is matches errors.ErrUnsupported.
func (unsupported) Is(target error) bool { return target == errors.ErrUnsupported }
