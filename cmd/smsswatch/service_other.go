//go:build !windows

package main

import (
	"fmt"

	"github.com/smsswatch/smsswatch/etw"
)

// controlService is Windows-only: elsewhere it fails with
// etw.ErrUnsupported.
func controlService(req serviceRequest) (string, error) {
	return "", fmt.Errorf("service control needs Windows: %w", etw.ErrUnsupported)
}

// serviceStartChecks checks the Windows service's files; there is no
// service elsewhere.
func serviceStartChecks(func(name string) string) error { return nil }
