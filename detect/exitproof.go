package detect

import "github.com/smsswatch/smsswatch/etw"

// exitProof is what one source has shown, in the current boot, about
// delivering process exits (DETECTION.md evidence rule 2). A session
// child's missing exit proves it persisted only when the source delivered
// the exit of a program under <SystemRoot>\System32 no later than the
// child's start and another no earlier than its deadline, both in the
// child's boot. Filtered exports, Sysmon configurations that log exits
// for some programs only, the previous boot's shutdown and Security
// auditing at boot give no such proof.
type exitProof struct {
	// always: live ETW, where exits are delivered.
	always bool
	// first and last bound the System32 exits seen in this boot (Unix
	// ns; 0: none). last is kept only while a child waits for it.
	first, last int64
}

func (p *exitProof) reset() { p.first, p.last = 0, 0 }

func (p *exitProof) saw(t int64) {
	if p.first == 0 || t < p.first {
		p.first = t
	}
	if t > p.last {
		p.last = t
	}
}

// deliveredBy reports whether exits were delivered no later than start.
func (p *exitProof) deliveredBy(start int64) bool {
	return p.always || (p.first != 0 && p.first <= start)
}

// deliveredAfter reports whether an exit was delivered at or after t.
func (p *exitProof) deliveredAfter(t int64) bool {
	return p.always || (p.last != 0 && p.last >= t)
}

// proveExits takes the exit in ev (at exit) as proof of delivery when it
// is a System32 program's, in this boot.
func (e *Engine) proveExits(ev *etw.Event, exit int64) {
	if ev.Known&etw.FieldImage == 0 || exit < e.bootStart {
		return
	}
	if e.paths.underSystem32(ev.Proc.Image) != pathMatch {
		return
	}
	e.proof.saw(exit)
	if e.awaiting > 0 {
		e.settleAwaiting()
	}
}

// childPastDeadline: a session child reached its deadline without an
// exit record of its own.
func (e *Engine) childPastDeadline(in *instance) {
	switch {
	case e.live && e.exitLost(in):
		in.exitLost = true
		in.deadline = noDeadline
		e.stats.Unevaluated[RulePersistentChild][GapExitLost]++
	case e.live:
		e.firePersistent(in, in.deadline)
		in.deadline = noDeadline
	case !e.proof.deliveredBy(in.start):
		e.stats.Unevaluated[RulePersistentChild][GapExitsBefore]++
		in.deadline = noDeadline
	default:
		// Delivery up to its start is proven; after its deadline is not
		// yet. Wait for the source to deliver a later exit.
		in.awaitProof = true
		e.awaiting++
	}
}

// exitLost asks the host (Config.ConfirmRunning) whether the live child
// in, past its deadline with no exit record, has exited after all: only a
// certain "not running" is an exit lost; no hook, no PID or an uncertain
// answer leave the child persistent.
func (e *Engine) exitLost(in *instance) bool {
	if e.cfg.ConfirmRunning == nil || in.info.Known&etw.FieldPID == 0 {
		return false
	}
	var created int64
	if in.createKnown {
		created = in.info.CreateTime
	}
	running, known := e.cfg.ConfirmRunning(in.pid, created)
	return known && !running
}

// settleAwaiting fires for the children whose deadline the source has now
// delivered an exit after.
func (e *Engine) settleAwaiting() {
	for i := range e.inst {
		in := &e.inst[i]
		if in.used && in.awaitProof && e.proof.deliveredAfter(in.deadline) {
			in.awaitProof = false
			e.awaiting--
			e.firePersistent(in, in.deadline)
			in.deadline = noDeadline
		}
	}
}

// childExited: a session child's own exit record. One after its deadline
// proves it outlived its window whatever else the source delivers (also
// when the confirmer had already found it exited: the record was late).
func (e *Engine) childExited(in *instance, exit int64) {
	if in.awaitProof {
		in.awaitProof = false
		e.awaiting--
	}
	if in.exitLost {
		// The exit record was late (it exited between its deadline and
		// the check), not lost: the check is made after all.
		in.exitLost = false
		e.stats.Unevaluated[RulePersistentChild][GapExitLost]--
	}
	if !in.hasFired(RulePersistentChild) && exit > in.start+int64(e.cfg.ChildWindow) {
		e.firePersistent(in, exit)
	}
	in.deadline = noDeadline
}

// awaitingUnmade: a child waited for proof until its boot or the input
// ended; the check is not made.
func (e *Engine) awaitingUnmade(in *instance) {
	in.awaitProof = false
	e.awaiting--
	in.deadline = noDeadline
	e.stats.Unevaluated[RulePersistentChild][GapExitsAfter]++
}

// giveUpAwaiting ends the wait of every child (end of input).
func (e *Engine) giveUpAwaiting() {
	for i := range e.inst {
		if in := &e.inst[i]; in.used && in.awaitProof {
			e.awaitingUnmade(in)
		}
	}
}
