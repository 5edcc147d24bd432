package detect

// fireSecondMaster: smss.second_master.
func (e *Engine) fireSecondMaster(in *instance, at int64) {
	v := e.begin(RuleSecondMaster, at, in)
	v.Evidence.Role = RoleMaster
	if e.master >= 0 {
		m := &e.inst[e.master]
		v.Evidence.Expected = "one master per boot: pid " + string(e.scratchNum(m.pid)) + " is alive"
	}
	if !e.live {
		v.Evidence.Window = int64(e.cfg.BootConfirmWindow)
	}
	e.msg("second smss.exe master (pid ").num(in.pid).msg(", parent System) while the master of this boot is alive")
	e.finish(in)
}
