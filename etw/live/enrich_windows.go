//go:build windows && cgo

package live

import (
	"errors"
	"unsafe"

	"github.com/smsswatch/smsswatch/etw"

	"golang.org/x/sys/windows"
)

// winEnricher reads the token user and the command line of a live process
// (OpenProcess for limited query, GetProcessTimes to make sure it is the
// process the event describes, OpenProcessToken, and
// NtQueryInformationProcess(ProcessCommandLineInformation), Windows 8.1+).
// Used by the consumer goroutine only.
type winEnricher struct {
	buf []byte
}

// Tolerances when an event's creation time is compared with the process's.
const (
	enrichSameCreate  = 1_000_000     // 1 ms: both come from the same kernel field
	enrichSameStarted = 1_000_000_000 // 1 s: a start event's own time, when CreateTime is unknown
)

// Enrich implements Enricher.
func (w *winEnricher) Enrich(ev *etw.Event) {
	p := &ev.Proc
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, p.PID)
	if err != nil {
		return // gone already (a session child lives for well under a second)
	}
	defer windows.CloseHandle(h)
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return
	}
	ct := created.Nanoseconds()
	switch {
	case ev.Has(etw.FieldCreateTime):
		if d := ct - p.CreateTime; d > enrichSameCreate || d < -enrichSameCreate {
			return // the PID was reused
		}
	case ev.Kind == etw.KindStart:
		if d := ct - ev.Time; d > enrichSameStarted || d < -enrichSameStarted {
			return
		}
	default:
		return // nothing to tell this process from a reuse of its PID
	}
	if !ev.Has(etw.FieldUserSID) {
		if sid, name := processUser(h); sid != "" {
			p.UserSID = sid
			ev.Known |= etw.FieldUserSID
			if name != "" && !ev.Has(etw.FieldUserName) {
				p.UserName = name
				ev.Known |= etw.FieldUserName
			}
		}
	}
	if !ev.Has(etw.FieldCommandLine) {
		cl, ok := w.commandLine(h)
		if !ok {
			cl, ok = commandLineFromPEB(p.PID, ct)
		}
		if ok {
			p.CommandLine = cl
			ev.Known |= etw.FieldCommandLine
		}
	}
}

// commandLineFromPEB reads the command line from the process's PEB, for
// systems without ProcessCommandLineInformation (before Windows 8.1, and
// wine). It needs PROCESS_VM_READ, which protected processes (smss.exe)
// refuse; created guards against a PID reused since the first open.
func commandLineFromPEB(pid uint32, created int64) (string, bool) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_INFORMATION|windows.PROCESS_VM_READ, false, pid)
	if err != nil {
		return "", false
	}
	defer windows.CloseHandle(h)
	var c, e, k, u windows.Filetime
	if windows.GetProcessTimes(h, &c, &e, &k, &u) != nil || c.Nanoseconds() != created {
		return "", false
	}
	var pbi windows.PROCESS_BASIC_INFORMATION
	if windows.NtQueryInformationProcess(h, windows.ProcessBasicInformation, unsafe.Pointer(&pbi), uint32(unsafe.Sizeof(pbi)), nil) != nil ||
		pbi.PebBaseAddress == nil {
		return "", false
	}
	var peb windows.PEB
	if windows.ReadProcessMemory(h, uintptr(unsafe.Pointer(pbi.PebBaseAddress)), (*byte)(unsafe.Pointer(&peb)), unsafe.Sizeof(peb), nil) != nil ||
		peb.ProcessParameters == nil {
		return "", false
	}
	var params windows.RTL_USER_PROCESS_PARAMETERS
	if windows.ReadProcessMemory(h, uintptr(unsafe.Pointer(peb.ProcessParameters)), (*byte)(unsafe.Pointer(&params)), unsafe.Sizeof(params), nil) != nil {
		return "", false
	}
	n := int(params.CommandLine.Length) / 2
	if n == 0 || params.CommandLine.Buffer == nil {
		return "", n == 0 && params.CommandLine.Buffer != nil
	}
	buf := make([]uint16, n)
	if windows.ReadProcessMemory(h, uintptr(unsafe.Pointer(params.CommandLine.Buffer)), (*byte)(unsafe.Pointer(&buf[0])), uintptr(2*n), nil) != nil {
		return "", false
	}
	return windows.UTF16ToString(buf), true
}

// commandLine reads the process's command line.
func (w *winEnricher) commandLine(h windows.Handle) (string, bool) {
	if len(w.buf) == 0 {
		w.buf = make([]byte, 4096)
	}
	for tries := 0; tries < 3; tries++ {
		var n uint32
		err := windows.NtQueryInformationProcess(h, windows.ProcessCommandLineInformation,
			unsafe.Pointer(&w.buf[0]), uint32(len(w.buf)), &n)
		if err == nil {
			us := (*windows.NTUnicodeString)(unsafe.Pointer(&w.buf[0]))
			return us.String(), true
		}
		if err != windows.STATUS_INFO_LENGTH_MISMATCH && err != windows.STATUS_BUFFER_TOO_SMALL ||
			int(n) <= len(w.buf) || n > 1<<20 {
			return "", false
		}
		w.buf = make([]byte, n)
	}
	return "", false
}

// enableDebugPrivilege enables SeDebugPrivilege in the process token
// (present but disabled in an elevated console; enabled for LocalSystem),
// so that enrichment can open other users' and protected processes.
func enableDebugPrivilege() error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return err
	}
	defer tok.Close()
	var luid windows.LUID
	name, _ := windows.UTF16PtrFromString("SeDebugPrivilege")
	if err := windows.LookupPrivilegeValue(nil, name, &luid); err != nil {
		return err
	}
	tp := windows.Tokenprivileges{PrivilegeCount: 1}
	tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
	// AdjustTokenPrivileges succeeds without assigning a privilege the
	// token does not hold, and says so only through the last error, which
	// LazyProc.Call returns from the same thread.
	if err := procAdjustTokenPrivileges.Find(); err != nil {
		return err
	}
	r, _, e := procAdjustTokenPrivileges.Call(uintptr(tok), 0, uintptr(unsafe.Pointer(&tp)), 0, 0, 0)
	if r == 0 {
		return e
	}
	if errors.Is(e, windows.ERROR_NOT_ALL_ASSIGNED) {
		return e
	}
	return nil
}

var procAdjustTokenPrivileges = modadvapi32.NewProc("AdjustTokenPrivileges")

// processUser returns the SID and DOMAIN\name of the process's token user
// (the enricher's, for smss-related processes only).
func processUser(h windows.Handle) (sid, name string) {
	sid = processSID(h)
	if sid != "" {
		name = accountName(sid)
	}
	return sid, name
}
