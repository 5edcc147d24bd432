package live

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// systemTimeOfDay is SYSTEM_TIMEOFDAY_INFORMATION.
type systemTimeOfDay struct {
	BootTime      int64
	CurrentTime   int64
	TimeZoneBias  int64
	TimeZoneID    uint32
	Reserved      uint32
	BootTimeBias  uint64
	SleepTimeBias uint64
}

var procGetTickCount64 = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount64")

// TakeSnapshot reads the boot time (SystemTimeOfDayInformation), the
// Windows folder and every running process (SystemProcessInformation:
// PID, parent, session, creation time; then, per process, the image path
// and token user where the process can be opened for limited query).
func TakeSnapshot() (*Snapshot, error) {
	s := &Snapshot{Time: time.Now().UnixNano()}
	var tod systemTimeOfDay
	if err := windows.NtQuerySystemInformation(windows.SystemTimeOfDayInformation, unsafe.Pointer(&tod), uint32(unsafe.Sizeof(tod)), nil); err == nil {
		if t, ok := filetimeToUnixNano(uint64(tod.BootTime)); ok {
			s.BootTime = t
		}
	}
	if s.BootTime == 0 {
		if procGetTickCount64.Find() == nil {
			ms, _, _ := procGetTickCount64.Call()
			if ms != 0 {
				s.BootTime = s.Time - int64(ms)*int64(time.Millisecond)
			}
		}
	}
	root, err := windows.GetSystemWindowsDirectory()
	if err != nil {
		return nil, fmt.Errorf("process snapshot: Windows folder: %w", err)
	}
	s.SystemRoot = root

	buf := make([]byte, 512<<10)
	for {
		var n uint32
		err := windows.NtQuerySystemInformation(windows.SystemProcessInformation, unsafe.Pointer(&buf[0]), uint32(len(buf)), &n)
		if err == nil {
			break
		}
		if err != windows.STATUS_INFO_LENGTH_MISMATCH || len(buf) >= 64<<20 {
			return nil, fmt.Errorf("process snapshot: NtQuerySystemInformation: %w", err)
		}
		buf = make([]byte, max(2*len(buf), int(n)+64<<10))
	}
	for off := 0; off < len(buf); {
		spi := (*windows.SYSTEM_PROCESS_INFORMATION)(unsafe.Pointer(&buf[off]))
		pid := uint32(spi.UniqueProcessID)
		if pid != 0 {
			p := SnapshotProcess{PID: pid, ParentPID: uint32(spi.InheritedFromUniqueProcessID), Session: spi.SessionID}
			if t, ok := filetimeToUnixNano(uint64(spi.CreateTime)); ok {
				p.CreateTime = t
			}
			if pid == 4 {
				p.Image = "System"
				p.UserSID, p.UserName = "S-1-5-18", `NT AUTHORITY\SYSTEM`
			} else {
				readProcess(&p)
			}
			s.Processes = append(s.Processes, p)
		}
		if spi.NextEntryOffset == 0 {
			break
		}
		off += int(spi.NextEntryOffset)
	}
	nameSmssRelated(s.Processes)
	return s, nil
}

// nameSmssRelated looks up account names only for processes that are
// smss.exe-like or whose parent is: a lookup of a domain SID with an
// unreachable domain controller can take seconds, and must not stall the
// snapshot for every process of the machine. Names are cached per SID.
func nameSmssRelated(procs []SnapshotProcess) {
	images := make(map[uint32]string, len(procs))
	for i := range procs {
		images[procs[i].PID] = procs[i].Image
	}
	names := map[string]string{}
	for i := range procs {
		p := &procs[i]
		if p.UserSID == "" || p.UserName != "" {
			continue
		}
		if !smssLike(p.Image) && !smssLike(images[p.ParentPID]) {
			continue
		}
		name, ok := names[p.UserSID]
		if !ok {
			name = accountName(p.UserSID)
			names[p.UserSID] = name
		}
		p.UserName = name
	}
}

// accountName returns DOMAIN\name for a SID string, or "".
func accountName(sidStr string) string {
	sid, err := windows.StringToSid(sidStr)
	if err != nil {
		return ""
	}
	acc, dom, _, err := sid.LookupAccount("")
	if err != nil {
		return ""
	}
	if dom != "" {
		return dom + `\` + acc
	}
	return acc
}

// readProcess fills the image path and token user of p where the process
// lets itself be opened for PROCESS_QUERY_LIMITED_INFORMATION (protected
// processes such as smss.exe do, for LocalSystem).
func readProcess(p *SnapshotProcess) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, p.PID)
	if err != nil {
		return
	}
	defer windows.CloseHandle(h)
	p.Image = processImage(h)
	p.UserSID = processSID(h)
}

// processImage returns the Win32 path of the process's executable.
func processImage(h windows.Handle) string {
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return ""
	}
	return windows.UTF16ToString(buf[:n])
}

// processSID returns the SID of the process's token user, without an
// account lookup.
func processSID(h windows.Handle) string {
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return ""
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return ""
	}
	return u.User.Sid.String()
}
