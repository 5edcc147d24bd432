//go:build !cgo

package etw

import (
	"context"
	"fmt"
)

// livePlatform holds the Windows-only state of Live (none without cgo).
type livePlatform struct{}

// NewLive prepares the live sensor. github.com/bi-zone/etw needs cgo (its
// ETW callback is a C function): a build with CGO_ENABLED=0 has no live
// sensor and says so with an error wrapping ErrUnsupported.
func NewLive(cfg LiveConfig) (*Live, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("live ETW sensor: %w: this build has no cgo (rebuild with CGO_ENABLED=1 and a mingw-w64 C compiler)", ErrUnsupported)
}

// Run is never reached: NewLive fails without cgo.
func (l *Live) Run(ctx context.Context, h Handler) error {
	return fmt.Errorf("live ETW sensor: %w", ErrUnsupported)
}
