package detect

import (
	"github.com/smsswatch/smsswatch/etw"
)

// Role is what the detector believes an smss.exe instance is.
type Role uint8

// Roles of an smss.exe instance.
const (
	// RoleNone: not an smss.exe (or not yet classified).
	RoleNone Role = iota
	// RoleMaster is the boot-time Session Manager (parent System).
	RoleMaster
	// RoleChild is a transient session child started by the master.
	RoleChild
	// RoleRogue is any other smss.exe.
	RoleRogue
	// RoleUnknown is an smss.exe whose role the evidence does not decide:
	// one known only as a parent, or the child of one (evidence rule 8).
	RoleUnknown

	numRoles
)

// NumRoles is the number of roles, for tables indexed by Role.
const NumRoles = int(numRoles)

var roleNames = [...]string{"", "master", "session_child", "rogue", "unknown"}

// String returns the role's name as used in alerts.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return ""
}

// ProcessInfo is what a violation says about a process. Known says which
// fields are set (etw.Field bits); unknown fields are left out of alerts.
type ProcessInfo struct {
	// Known marks the fields below that are set (etw.FieldPID, ...).
	Known etw.Field
	// PID is the process ID.
	PID uint32
	// ParentPID is the declared parent.
	ParentPID uint32
	// CreatorPID is the real creator.
	CreatorPID uint32
	// Session is the terminal session.
	Session uint32
	// CreateTime is the start time, Unix ns UTC.
	CreateTime int64
	// ExitTime is the exit time, Unix ns UTC.
	ExitTime int64
	// Image is the executable path as the source wrote it.
	Image string
	// CommandLine is the command line.
	CommandLine string
	// UserSID is the process's user SID.
	UserSID string
	// UserName is the process's user name.
	UserName string
	// CreatorSID is the creating user's SID.
	CreatorSID string
	// Key is the source's unique process key.
	Key string
}

// Evidence is the rule-specific proof behind a violation. Zero fields are
// not part of the evidence.
type Evidence struct {
	// Role is the role of the offending smss.exe instance.
	Role Role
	// Expected is what the contract expects (a path, a parent, a shape).
	Expected string
	// Observed is what was seen instead.
	Observed string
	// Started is the child's start (persistent_child), Unix ns.
	Started int64
	// Window is child_window or late_master_after, nanoseconds.
	Window int64
	// Deadline is Started+Window, Unix ns.
	Deadline int64
	// BootTime is the boot the violation belongs to, Unix ns, if known.
	BootTime int64
	// Spawned lists what a session child started, in order.
	Spawned []string
	// RegOp, RegKey, RegValue, RegData and RegDefault describe a registry
	// change (smss.registry).
	RegOp      string
	RegKey     string
	RegValue   string
	RegData    string
	RegDefault string
	// First and Last bound an aggregated violation (Count > 1), Unix ns.
	First int64
	Last  int64
	// Folded lists the distinct values an overflow aggregate folded (too
	// many distinct kinds of alert in one window), each with its count;
	// MoreFolded counts the folded alerts of kinds beyond the list.
	Folded     []FoldedValue
	MoreFolded uint32
}

// FoldedValue is one distinct kind of alert an aggregate folded.
type FoldedValue struct {
	// Image, ParentImage and CommandLine are the folded alerts' process.
	Image, ParentImage, CommandLine string
	// Count is how many alerts of this kind were folded.
	Count uint32
}

// Violation is one alert. The detector fills it; sinks must copy what they
// keep beyond the call.
type Violation struct {
	// Rule is the rule that fired.
	Rule Rule
	// Severity is the rule's severity after configuration overrides.
	Severity Severity
	// Source is the sensor or log whose events proved the violation.
	Source etw.Source
	// Time is the event time at which the rule fired, Unix ns UTC.
	Time int64
	// Host is the computer the events came from.
	Host string
	// Message is one human line.
	Message string
	// Process is the offending process (for smss.registry: the writer).
	Process ProcessInfo
	// Parent is its parent, as known.
	Parent ProcessInfo
	// Evidence is the rule-specific proof.
	Evidence Evidence
	// Count is how many occurrences this alert stands for (>1 when
	// aggregated).
	Count uint32
	// DedupeKey is stable for (rule, host, process identity): the same
	// violation seen twice has the same key.
	DedupeKey uint64
}

// Techniques returns the ATT&CK technique IDs for v: the rule's, except for
// smss.unexpected_child where it depends on the role.
func (v *Violation) Techniques() []string {
	if v.Rule == RuleUnexpectedChild && (v.Evidence.Role == RoleMaster || v.Evidence.Role == RoleUnknown) {
		return techBootExecute
	}
	return v.Rule.Techniques()
}
