//go:build !windows || !cgo

package consumer

import (
	"errors"
	"testing"
)

func TestUnsupportedBuild(t *testing.T) {
	c, err := Open("smsswatch", func(*Record) {})
	if c != nil {
		t.Errorf("Open returned a Consumer: %+v", c)
	}
	var nilConsumer *Consumer
	tests := []struct {
		name string
		err  error
	}{
		{"Open", err},
		{"Process", nilConsumer.Process()},
		{"Close", nilConsumer.Close()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, errors.ErrUnsupported) {
				t.Errorf("error %v does not wrap errors.ErrUnsupported", tc.err)
			}
		})
	}
}
