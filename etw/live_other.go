//go:build !windows

package etw

import (
	"context"
	"fmt"
)

// livePlatform holds the Windows-only state of Live (none elsewhere).
type livePlatform struct{}

// NewLive prepares the live sensor. Only Windows has ETW: elsewhere it
// returns an error wrapping ErrUnsupported ("live ETW sensor: not supported
// on linux").
func NewLive(cfg LiveConfig) (*Live, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("live ETW sensor: %w", ErrUnsupported)
}

// Run runs the sensor until ctx ends; see the Windows implementation.
// Elsewhere there is no sensor to run.
func (l *Live) Run(ctx context.Context, h Handler) error {
	return fmt.Errorf("live ETW sensor: %w", ErrUnsupported)
}
