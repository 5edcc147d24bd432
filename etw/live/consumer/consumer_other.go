//go:build !windows || !cgo

package consumer

import (
	"errors"
	"fmt"
)

// errUnsupported is what every call returns in this build.
var errUnsupported = fmt.Errorf("ETW consumer: needs Windows and cgo: %w", errors.ErrUnsupported)

// Consumer consumes one real-time ETW session; this build (not Windows,
// or no cgo) has none, and Open always fails.
type Consumer struct{}

// Open fails with an error wrapping errors.ErrUnsupported.
func Open(sessionName string, fn func(*Record)) (*Consumer, error) {
	return nil, errUnsupported
}

// Process fails with an error wrapping errors.ErrUnsupported.
func (c *Consumer) Process() error { return errUnsupported }

// Close fails with an error wrapping errors.ErrUnsupported.
func (c *Consumer) Close() error { return errUnsupported }
