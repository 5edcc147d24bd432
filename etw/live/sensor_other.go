//go:build !windows || !cgo

package live

import (
	"context"
	"fmt"
	"runtime"

	"github.com/smsswatch/smsswatch/etw"
)

// livePlatform holds the Windows-only state of Sensor (none here).
type livePlatform struct{}

// New prepares the live sensor. Only Windows has ETW: elsewhere it
// returns an error wrapping ErrUnsupported ("live ETW sensor: not supported
// on linux"). github.com/bi-zone/etw needs cgo (its ETW callback is a C
// function), so a Windows build with CGO_ENABLED=0 has no live sensor
// either and says how to get one.
func New(cfg Config) (*Sensor, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	if runtime.GOOS == "windows" {
		return nil, fmt.Errorf("live ETW sensor: %w: this build has no cgo (rebuild with CGO_ENABLED=1 and a mingw-w64 C compiler)", etw.ErrUnsupported)
	}
	return nil, fmt.Errorf("live ETW sensor: %w", etw.ErrUnsupported)
}

// Run is never reached: New fails where there is no live sensor.
func (l *Sensor) Run(ctx context.Context, h etw.Handler) error {
	_ = l.plat
	return fmt.Errorf("live ETW sensor: %w", etw.ErrUnsupported)
}
