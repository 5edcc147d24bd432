package main

import (
	"errors"
	"fmt"
	"time"
)

// errStrict is returned when --strict is set and records were skipped.
var errStrict = errors.New("records were skipped (--strict)")

// checkReorder validates the reorder flags of hunt and replay.
func checkReorder(window time.Duration, max int) error {
	if window <= 0 {
		return fmt.Errorf("--reorder-window must be positive, got %v", window)
	}
	if max < 1 {
		return fmt.Errorf("--reorder-max must be at least 1, got %d", max)
	}
	return nil
}
