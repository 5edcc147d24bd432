package detect

// Gap is a reason why a rule could not be evaluated for an event: the
// evidence rules say a missing field leaves a rule unevaluated, and the
// summary says which checks could not be made and why.
type Gap uint8

// Reasons a check could not be made.
const (
	GapNone Gap = iota
	// GapImage: the source gave no image path.
	GapImage
	// GapVolume: an NT device path whose volume is not mapped to a drive.
	GapVolume
	// GapUser: neither the process's user nor its creator's is known.
	GapUser
	// GapCommandLine: the source gave no command line.
	GapCommandLine
	// GapParent: neither parent PID nor parent image is known.
	GapParent
	// GapMaster: the parent is an smss.exe but the master of this boot is
	// not known, so child and master cannot be told apart.
	GapMaster
	// GapCreator: the source gives no creator PID (Sysmon) or no parent.
	GapCreator
	// GapBootTime: no boot time is known for the master's boot.
	GapBootTime
	// GapClock: the boot time is later than the master's start (the two
	// records come from different clocks).
	GapClock
	// GapExitsBefore: the source delivered no exit of a System32 program
	// in this boot before the child started (a filtered export, exits
	// logged for some programs only, Security auditing at boot): the
	// child's missing exit proves nothing.
	GapExitsBefore
	// GapSessionParent: a session process whose parent is not known.
	GapSessionParent
	// GapRunning: an already-running process's parent may have been
	// replaced by PID reuse, so its parent image proves nothing.
	GapRunning
	// GapNoDefault: a baseline value the contract gives no default for.
	GapNoDefault
	// GapCreateTime: an already-running process whose creation time the
	// source could not read.
	GapCreateTime
	// GapExitsAfter: the source delivered no exit of a System32 program
	// after the child's deadline before its boot or the input ended.
	GapExitsAfter
	// GapUndecided: a master candidate neither confirmed as a new boot nor
	// proven a second master when the input ended.
	GapUndecided
	// GapRoleUnknown: the parent smss.exe was never seen starting and its
	// role is not known (evidence rule 8).
	GapRoleUnknown
	// GapExitLost: live, a session child past its deadline with no exit
	// record had exited when the host was asked (Config.ConfirmRunning):
	// its exit record was lost, so its persistence is not shown.
	GapExitLost

	numGaps
)

// NumGaps is the number of Gap values, for tables indexed by Gap.
const NumGaps = int(numGaps)

var gapText = [numGaps]string{
	GapNone:          "",
	GapImage:         "no image path",
	GapVolume:        "NT device path not mapped to a drive",
	GapUser:          "no user or creator SID",
	GapCommandLine:   "no command line",
	GapParent:        "no parent PID or parent image",
	GapMaster:        "master of this boot unknown",
	GapCreator:       "no creator PID",
	GapBootTime:      "no boot time",
	GapClock:         "boot time after master start (different clocks)",
	GapExitsBefore:   "source delivered no System32 exit in this boot before the child started",
	GapSessionParent: "parent unknown",
	GapRunning:       "already-running process (parent may be a reused PID)",
	GapNoDefault:     "value has no default to compare with",
	GapCreateTime:    "creation time unknown (already-running process)",
	GapExitsAfter:    "source delivered no System32 exit after the child's deadline in its boot",
	GapUndecided:     "master candidate undecided at end of input",
	GapRoleUnknown:   "parent smss.exe of unknown role (its start not recorded)",
	GapExitLost:      "child had exited at its deadline but its exit record was lost (live confirmer)",
}

// String describes the gap.
func (g Gap) String() string {
	if g < numGaps {
		return gapText[g]
	}
	return ""
}

// Stats are an engine's counters. All are totals since the engine started.
type Stats struct {
	// Events counts events handled, by kind (index etw.Kind).
	Events [8]uint64
	// Exits counts process-exit records seen.
	Exits uint64
	// Boots counts boots seen (boot records or a new master).
	Boots uint64
	// Instances counts smss.exe instances tracked, by role.
	Instances [NumRoles]uint64
	// Violations counts alerts emitted, by rule (aggregated ones once).
	Violations [NumRules]uint64
	// Aggregated counts alerts folded into aggregated alerts, by rule.
	Aggregated [NumRules]uint64
	// Disabled counts alerts not emitted because their rule is disabled.
	Disabled [NumRules]uint64
	// Unevaluated counts checks that could not be made, by rule and gap.
	Unevaluated [NumRules][NumGaps]uint64
	// Evicted counts live instances dropped because the table was full.
	Evicted uint64
	// RetiredExited counts exited instances forgotten to make room.
	RetiredExited uint64
	// LateBoots counts boot records older than the engine's time, ignored.
	LateBoots uint64
	// UnplacedBoots counts EventLog 6005 records (no OS start time) that
	// no other evidence placed in a boot: the service restarted, or the
	// boot's other records are missing. They begin no boot.
	UnplacedBoots uint64
	// HostBoots counts boots this engine took from another source of its
	// host (a confirmed candidate, a session-0 child).
	HostBoots uint64
	// UnknownRole counts smss.exe instances known only as a parent and
	// tracked with an unknown role.
	UnknownRole uint64
	// BootsDropped counts boots left out of the report (too many).
	BootsDropped uint64
	// PIDReused counts tracked instances replaced by a new process with
	// the same PID.
	PIDReused uint64
	// Duplicates counts starts for an instance already tracked (the same
	// process seen twice, e.g. by a snapshot and a start).
	Duplicates uint64
	// HistoryDropped counts instances left out of the report because the
	// history was full.
	HistoryDropped uint64
}

// Total returns the number of violations emitted.
func (s *Stats) Total() uint64 {
	var n uint64
	for _, c := range s.Violations {
		n += c
	}
	return n
}
