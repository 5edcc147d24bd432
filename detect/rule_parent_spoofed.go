package detect

import "github.com/smsswatch/smsswatch/etw"

// checkSpoof: smss.parent_spoofed.
func (e *Engine) checkSpoof(in *instance, ev *etw.Event) {
	k := ev.Known
	if k&etw.FieldCreatorPID == 0 || k&etw.FieldParentPID == 0 || ev.Proc.CreatorPID == 0 {
		e.stats.Unevaluated[RuleParentSpoofed][GapCreator]++
		return
	}
	if ev.Proc.CreatorPID == ev.Proc.ParentPID {
		return
	}
	v := e.begin(RuleParentSpoofed, in.start, in)
	v.Evidence.Expected = "creator is the declared parent"
	e.msg("smss.exe (pid ").num(in.pid).msg(") declares parent pid ").num(ev.Proc.ParentPID).msg(" but was created by pid ").num(ev.Proc.CreatorPID)
	v.Evidence.Observed = "creator pid " + string(e.scratchNum(ev.Proc.CreatorPID))
	e.finish(in)
}
