package live

import (
	"sort"

	"github.com/smsswatch/smsswatch/etw"
)

// SnapshotProcess is one process of a Snapshot. Empty strings and zero
// times are unknown (a protected process may not let its user or image be
// read).
type SnapshotProcess struct {
	// PID and ParentPID are the process and its declared parent
	// (InheritedFromUniqueProcessId).
	PID, ParentPID uint32
	// Session is the terminal session.
	Session uint32
	// CreateTime is the creation time, Unix ns UTC.
	CreateTime int64
	// Image is the executable path (DOS form, C:\Windows\System32\smss.exe,
	// or "System" for PID 4).
	Image string
	// UserSID and UserName are the token user (S-1-5-18, NT
	// AUTHORITY\SYSTEM).
	UserSID, UserName string
	// CommandLine is the command line, when it was read.
	CommandLine string
}

// Snapshot is the machine's state when the live sensor starts (or restarts
// its session): boot time, Windows folder and running processes.
type Snapshot struct {
	// Time is when the snapshot was taken, Unix ns UTC.
	Time int64
	// BootTime is when the OS started, Unix ns UTC (0: unknown).
	BootTime int64
	// SystemRoot is the Windows folder, e.g. C:\Windows.
	SystemRoot string
	// Processes are the running processes.
	Processes []SnapshotProcess
}

// sorted returns the processes oldest first (a parent before its children;
// PID order for equal or unknown times).
func (s *Snapshot) sorted() []SnapshotProcess {
	out := append([]SnapshotProcess(nil), s.Processes...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.CreateTime != b.CreateTime {
			return a.CreateTime < b.CreateTime
		}
		return a.PID < b.PID
	})
	return out
}

// event fills ev with the KindRunning record of p, observed at time at.
func (p *SnapshotProcess) event(host string, at int64, ev *etw.Event) {
	ev.Reset()
	ev.Kind = etw.KindRunning
	ev.Source = etw.SourceETW
	ev.Host = host
	ev.Time = at
	q := &ev.Proc
	q.PID, q.ParentPID, q.Session = p.PID, p.ParentPID, p.Session
	ev.Known = etw.FieldPID | etw.FieldSession
	if p.PID != 0 && p.PID != 4 {
		// The idle and System processes have no meaningful parent.
		ev.Known |= etw.FieldParentPID
	}
	set := func(f etw.Field, dst *string, v string) {
		if v != "" {
			*dst = v
			ev.Known |= f
		}
	}
	set(etw.FieldImage, &q.Image, p.Image)
	set(etw.FieldUserSID, &q.UserSID, p.UserSID)
	set(etw.FieldUserName, &q.UserName, p.UserName)
	set(etw.FieldCommandLine, &q.CommandLine, p.CommandLine)
	if p.CreateTime != 0 {
		q.CreateTime = p.CreateTime
		ev.Known |= etw.FieldCreateTime
	}
}
