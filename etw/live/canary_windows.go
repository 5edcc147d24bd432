//go:build windows && cgo

package live

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/windows"
)

// launchCanary starts the canary process (%SystemRoot%\System32\cmd.exe
// /c exit, no window) and tells the consumer its PID; the consumer expects
// its ProcessStart within CanaryTimeout (canaryWatch). A canary that cannot
// be started is logged, not a blind spot: the session is not at fault.
func (l *Sensor) launchCanary(ctx context.Context) {
	cmd := exec.Command(filepath.Join(l.systemRoot, "System32", "cmd.exe"), "/c", "exit")
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: windows.CREATE_NO_WINDOW}
	at := l.core.now()
	if err := cmd.Start(); err != nil {
		l.cfg.Logf("canary process: %v", err)
		return
	}
	pid := uint32(cmd.Process.Pid)
	go func() { _ = cmd.Wait() }()
	l.core.send(ctx, liveNote{kind: noteCanary, pid: pid, since: at})
}
