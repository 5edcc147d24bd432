package detect

// checkLateMaster: smss.late_master.
func (e *Engine) checkLateMaster(m *instance) {
	if m.inferred {
		return
	}
	if !m.startKnown {
		e.stats.Unevaluated[RuleLateMaster][GapCreateTime]++
		return
	}
	if e.bootTime == 0 {
		e.stats.Unevaluated[RuleLateMaster][GapBootTime]++
		return
	}
	delta := m.start - e.bootTime
	if delta < -exitTolerance {
		e.stats.Unevaluated[RuleLateMaster][GapClock]++
		return
	}
	if delta > int64(e.cfg.LateMasterAfter) && !m.hasFired(RuleLateMaster) {
		v := e.begin(RuleLateMaster, m.start, m)
		v.Evidence.BootTime = e.bootTime
		v.Evidence.Window = int64(e.cfg.LateMasterAfter)
		v.Evidence.Deadline = e.bootTime + int64(e.cfg.LateMasterAfter)
		e.msg("smss.exe master (pid ").num(m.pid).msg(") started ").dur(delta).msg(" after boot, later than ").dur(int64(e.cfg.LateMasterAfter))
		e.finish(m)
	}
}
