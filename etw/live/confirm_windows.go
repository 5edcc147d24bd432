//go:build windows && cgo

package live

import (
	"errors"

	"golang.org/x/sys/windows"
)

// Confirmer returns the sensor's ProcessConfirmer: OpenProcess (limited
// query) and GetProcessTimes, so that a PID reused since, or a process
// that has exited, is told from the child that is still running. Safe for
// any goroutine; it takes about 10 µs and is meant for the rare firing
// of smss.persistent_child, not per event.
func (l *Sensor) Confirmer() ProcessConfirmer { return confirmRunning }

// confirmRunning implements ProcessConfirmer on Windows.
func confirmRunning(pid uint32, createTime int64) (running, known bool) {
	return judgeProbe(probeProcess(pid), createTime)
}

// probeProcess reads what judgeProbe needs about pid.
func probeProcess(pid uint32) procProbe {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		// No such process: OpenProcess says ERROR_INVALID_PARAMETER.
		return procProbe{gone: errors.Is(err, windows.ERROR_INVALID_PARAMETER)}
	}
	defer windows.CloseHandle(h)
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return procProbe{}
	}
	p := procProbe{opened: true, created: created.Nanoseconds()}
	if exited.HighDateTime != 0 || exited.LowDateTime != 0 {
		p.exited = exited.Nanoseconds()
	}
	return p
}
