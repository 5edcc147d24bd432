package etw

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrUnsupportedWrapsStandard(t *testing.T) {
	err := fmt.Errorf("live ETW sensor: %w", ErrUnsupported)
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("%v: errors.Is fails", err)
	}
}
