//go:build !windows

package live

import (
	"fmt"

	"github.com/smsswatch/smsswatch/etw"
)

// TakeSnapshot reads the boot time, the Windows folder and the running
// processes. Only Windows has them: elsewhere it returns an error wrapping
// ErrUnsupported.
func TakeSnapshot() (*Snapshot, error) {
	return nil, fmt.Errorf("process snapshot: %w", etw.ErrUnsupported)
}
