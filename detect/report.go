package detect

import (
	"sort"

	"github.com/smsswatch/smsswatch/etw"
)

// SpawnReport is a process an smss.exe instance started.
type SpawnReport struct {
	// Name is the started image's file name.
	Name string
	// PID is its process ID (0 if unknown).
	PID uint32
	// Session is its terminal session, when HasSession.
	Session    uint32
	HasSession bool
	// Time is its start, Unix ns.
	Time int64
}

// InstanceReport is the story of one smss.exe instance.
type InstanceReport struct {
	// Role is what the detector took it for.
	Role Role
	// Inferred: a master known only as the parent of a child.
	Inferred bool
	// Boot is the index in Report.Boots of the boot it belongs to (-1
	// before any boot was seen).
	Boot int
	// Process describes it.
	Process ProcessInfo
	// Start and Exit are Unix ns (0 if unknown).
	Start, Exit int64
	// Session is the session it set up (children), when HasSession.
	Session    uint32
	HasSession bool
	// Spawned lists what it started (the first few).
	Spawned []SpawnReport
	// MoreSpawned counts starts beyond Spawned.
	MoreSpawned uint32
	// Rules lists the rules that fired for it.
	Rules []Rule
}

// BootReport is one boot seen in the data.
type BootReport struct {
	// Time is when the boot was evidenced, Unix ns.
	Time int64
	// BootTime is the OS start time if a record named it, else 0.
	BootTime int64
	// Evidence says what showed the boot.
	Evidence string
}

// Report is what an engine saw, for the hunt summary and tree.
type Report struct {
	Host      string
	Source    string
	Boots     []BootReport
	Instances []InstanceReport
	Stats     Stats
}

// remember records an instance's story (when it is retired or reported).
func (e *Engine) remember(in *instance) {
	if len(e.history) >= e.cfg.History {
		if e.cfg.History > 0 {
			e.stats.HistoryDropped++
		}
		return
	}
	e.history = append(e.history, e.reportOf(in))
}

func (e *Engine) reportOf(in *instance) InstanceReport {
	r := InstanceReport{
		Role:        in.role,
		Inferred:    in.inferred,
		Boot:        len(e.boots) - 1,
		Process:     in.info,
		Start:       in.start,
		Session:     in.session,
		HasSession:  in.hasSess,
		MoreSpawned: in.more,
	}
	if in.exited {
		r.Exit = in.exit
	}
	for i := 0; i < int(in.nSpawned); i++ {
		s := in.spawned[i]
		r.Spawned = append(r.Spawned, SpawnReport{Name: s.name, PID: s.pid, Session: s.session, HasSession: s.known&etw.FieldSession != 0, Time: s.time})
	}
	for rule := Rule(1); rule < numRules; rule++ {
		if in.hasFired(rule) {
			r.Rules = append(r.Rules, rule)
		}
	}
	return r
}

// Report returns what the engine saw: boots, every smss.exe instance
// (retired ones and those still tracked), ordered by start, and counters.
func (e *Engine) Report() Report {
	rep := Report{Host: e.host, Source: e.src.String(), Stats: e.stats}
	rep.Boots = append(rep.Boots, e.boots...)
	rep.Instances = append(rep.Instances, e.history...)
	for i := range e.inst {
		if in := &e.inst[i]; in.used {
			rep.Instances = append(rep.Instances, e.reportOf(in))
		}
	}
	sort.SliceStable(rep.Instances, func(i, j int) bool { return rep.Instances[i].Start < rep.Instances[j].Start })
	return rep
}
