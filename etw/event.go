package etw

import "time"

// Kind says what an Event records.
type Kind uint8

// The kinds of event every source produces.
const (
	// KindUnknown is the zero Kind; no source emits it.
	KindUnknown Kind = iota
	// KindStart is a process creation.
	KindStart
	// KindExit is a process termination.
	KindExit
	// KindRunning is a process that was already running when the source
	// started (ETW rundown or a process snapshot).
	KindRunning
	// KindRegistry is a registry change; see Event.Reg.
	KindRegistry
	// KindBoot is evidence that the OS started: Event.Boot.BootTime is
	// the start time when the record names it.
	KindBoot
)

var kindNames = [...]string{"unknown", "start", "exit", "running", "registry", "boot"}

// String returns the name used in the native trace format.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind is the inverse of Kind.String; ok is false for an unknown name.
func ParseKind(s string) (k Kind, ok bool) {
	for i := 1; i < len(kindNames); i++ {
		if kindNames[i] == s {
			return Kind(i), true
		}
	}
	return KindUnknown, false
}

// Source names the sensor or log that recorded an event. The detector keeps
// one state machine per (host, source): the same process seen by Sysmon and
// by Security auditing is two observations, not two processes.
type Source uint8

// The sources smsswatch reads.
const (
	// SourceUnknown is the zero Source.
	SourceUnknown Source = iota
	// SourceETW is Microsoft-Windows-Kernel-Process, live or recorded.
	SourceETW
	// SourceSysmon is Microsoft-Windows-Sysmon/Operational.
	SourceSysmon
	// SourceSecurity is the Security log (4688, 4689, 4608).
	SourceSecurity
	// SourceSystem is the System log (Kernel-General 12, EventLog 6005).
	SourceSystem
)

var sourceNames = [...]string{"unknown", "etw", "sysmon", "security", "system"}

// String returns the name used in the native trace format and in alerts.
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// ParseSource is the inverse of Source.String; ok is false for an unknown name.
func ParseSource(s string) (src Source, ok bool) {
	for i := 1; i < len(sourceNames); i++ {
		if sourceNames[i] == s {
			return Source(i), true
		}
	}
	return SourceUnknown, false
}

// Field is a bit set naming the optional fields an event carries. A field
// whose bit is clear is unknown: the source did not record it, which is not
// the same as zero or empty.
type Field uint32

// The optional fields of Process and Registry.
const (
	FieldPID Field = 1 << iota
	FieldParentPID
	FieldCreatorPID
	FieldSession
	FieldImage
	FieldParentImage
	FieldUserSID
	FieldUserName
	FieldCreatorSID
	FieldCommandLine
	FieldCreateTime
	FieldExitTime
	FieldExitCode
	FieldKey
	FieldParentKey
	FieldBootTime
)

// Has reports whether every field in want is known.
func (f Field) Has(want Field) bool { return f&want == want }

// Process is a process start, exit or already-running record: every field
// of the DETECTION.md field table. Strings are as the source wrote them
// (paths are normalised by the detector, not here).
type Process struct {
	// PID is the process ID.
	PID uint32
	// ParentPID is the parent the process declares (Sysmon ParentProcessId,
	// ETW ParentProcessID, Security 4688 ProcessId).
	ParentPID uint32
	// CreatorPID is the process that really created it (ETW event header
	// PID, Security 4688 ProcessId).
	CreatorPID uint32
	// Session is the terminal session ID.
	Session uint32
	// ExitCode is the exit status (exit records only).
	ExitCode uint32
	// CreateTime is the process creation time, Unix nanoseconds UTC.
	CreateTime int64
	// ExitTime is the process exit time, Unix nanoseconds UTC.
	ExitTime int64
	// Image is the executable path (NT, DOS or \SystemRoot form).
	Image string
	// ParentImage is the parent's executable path ("System" for PID 4).
	ParentImage string
	// CommandLine is the full command line.
	CommandLine string
	// UserSID is the SID the process runs as.
	UserSID string
	// UserName is the account the process runs as (DOMAIN\user).
	UserName string
	// CreatorSID is the SID of the user that created the process.
	CreatorSID string
	// Key is the source's unique process key (Sysmon ProcessGuid, ETW
	// ProcessSequenceNumber in decimal).
	Key string
	// ParentKey is the parent's unique key.
	ParentKey string
}

// RegOp is what a registry record did.
type RegOp uint8

// Registry operations.
const (
	// RegOpUnknown is the zero RegOp.
	RegOpUnknown RegOp = iota
	// RegOpSetValue writes a value (Sysmon 13).
	RegOpSetValue
	// RegOpDeleteValue deletes a value (Sysmon 12).
	RegOpDeleteValue
	// RegOpCreateKey creates a key (Sysmon 12).
	RegOpCreateKey
	// RegOpDeleteKey deletes a key (Sysmon 12).
	RegOpDeleteKey
	// RegOpRename renames a key or value (Sysmon 14).
	RegOpRename
	// RegOpBaseline is a value read at sensor start (live registry baseline).
	RegOpBaseline
)

var regOpNames = [...]string{"unknown", "set", "delete_value", "create_key", "delete_key", "rename", "baseline"}

// String returns the name used in the native trace format.
func (o RegOp) String() string {
	if int(o) < len(regOpNames) {
		return regOpNames[o]
	}
	return "unknown"
}

// ParseRegOp is the inverse of RegOp.String.
func ParseRegOp(s string) (op RegOp, ok bool) {
	for i := 1; i < len(regOpNames); i++ {
		if regOpNames[i] == s {
			return RegOp(i), true
		}
	}
	return RegOpUnknown, false
}

// Registry is a registry change (or a baseline read) and who made it.
type Registry struct {
	// Op is the operation.
	Op RegOp
	// PID is the writing process (FieldPID in Event.Known).
	PID uint32
	// Image is the writing process's executable (FieldImage).
	Image string
	// Key is the full key path, e.g.
	// HKLM\System\CurrentControlSet\Control\Session Manager.
	Key string
	// Value is the value name (empty for the key's default value or a key
	// operation).
	Value string
	// Data is the written data as the source rendered it; REG_MULTI_SZ
	// strings are joined with a single space.
	Data string
	// NewName is the new name of a rename.
	NewName string
}

// Boot is the OS start-up evidence of a KindBoot event.
type Boot struct {
	// BootTime is when the OS started (FieldBootTime), Unix ns UTC.
	BootTime int64
	// SystemRoot is the Windows folder of the booted system when the
	// source knows it (live sensor), e.g. C:\Windows.
	SystemRoot string
	// SystemDevice is the NT device of SystemRoot's volume when the source
	// knows it (live sensor), e.g. \Device\HarddiskVolume3, so that NT
	// image paths compare with SystemRoot.
	SystemDevice string
}

// Event is one record from any source. It is a plain value: sources fill
// one in place and pass a pointer, the detector reads it and keeps nothing
// that points into it.
type Event struct {
	// Time is the event's own timestamp, Unix nanoseconds UTC.
	Time int64
	// Kind says which of Proc, Reg and Boot is meaningful.
	Kind Kind
	// Source is the sensor or log that recorded the event.
	Source Source
	// Known says which optional fields of Proc, Reg or Boot are set.
	Known Field
	// Host is the computer name.
	Host string
	// Proc is set for KindStart, KindExit and KindRunning.
	Proc Process
	// Reg is set for KindRegistry.
	Reg Registry
	// Boot is set for KindBoot.
	Boot Boot
}

// Has reports whether all of the fields in want are known.
func (e *Event) Has(want Field) bool { return e.Known&want == want }

// Reset clears e for reuse.
func (e *Event) Reset() { *e = Event{} }

// TimeOf returns t (Unix ns) as a time.Time in UTC.
func TimeOf(t int64) time.Time { return time.Unix(0, t).UTC() }
