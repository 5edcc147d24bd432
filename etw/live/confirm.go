package live

// ProcessConfirmer tells whether the process pid created at createTime
// (Unix ns; 0 when unknown) is still running: running reports that it is,
// known that the answer is certain. The live sensor provides one
// (Sensor.Confirmer, Windows) so that smss.persistent_child is fired only
// for a child that is still the same running process, and a lost
// ProcessStop is not an alert. known false (the process could not be
// opened: access denied, or no creation time to compare) leaves the
// decision to the caller.
type ProcessConfirmer func(pid uint32, createTime int64) (running bool, known bool)

// procProbe is what the system said about a PID: whether no such process
// exists (gone), whether it could be opened, and its creation and exit
// times (Unix ns; exited 0 while it runs).
type procProbe struct {
	gone    bool
	opened  bool
	created int64
	exited  int64
}

// confirmSameCreate is how far the creation time read from the process may
// be from the event's (both come from the same kernel field; 1 ms allows
// for a rounding of either).
const confirmSameCreate = 1_000_000

// judgeProbe decides a ProcessConfirmer answer from a probe.
func judgeProbe(p procProbe, createTime int64) (running, known bool) {
	switch {
	case p.gone:
		return false, true
	case !p.opened:
		return false, false
	case createTime != 0 && (p.created-createTime > confirmSameCreate || createTime-p.created > confirmSameCreate):
		return false, true // the PID belongs to another process now
	case p.exited != 0:
		return false, true // exited (a handle still holds the object)
	case createTime == 0:
		return true, false // running, but nothing proves it is the same one
	}
	return true, true
}
