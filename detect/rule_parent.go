package detect

import "github.com/smsswatch/smsswatch/etw"

// fireParentRule: smss.parent.
func (e *Engine) fireParentRule(in *instance, ev *etw.Event) {
	v := e.begin(RuleParent, in.start, in)
	if e.master >= 0 && !e.inst[e.master].exited {
		v.Evidence.Expected = "System (pid 4) or the master (pid " + string(e.scratchNum(e.inst[e.master].pid)) + ")"
	} else {
		v.Evidence.Expected = "System (pid 4) or the master"
	}
	e.msg("smss.exe (pid ").num(in.pid).msg(") started by ")
	if ev.Known&etw.FieldParentImage != 0 {
		e.msg(etw.BaseName(ev.Proc.ParentImage)).msg(" ")
		v.Evidence.Observed = ev.Proc.ParentImage
	}
	if ev.Known&etw.FieldParentPID != 0 {
		e.msg("(pid ").num(ev.Proc.ParentPID).msg(")")
		if v.Evidence.Observed == "" {
			v.Evidence.Observed = "pid " + string(e.scratchNum(ev.Proc.ParentPID))
		}
	}
	e.msg(", not System or the master")
	e.finish(in)
}
