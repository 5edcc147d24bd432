package detect

// firePersistent: smss.persistent_child.
func (e *Engine) firePersistent(in *instance, at int64) {
	if in.hasFired(RulePersistentChild) {
		return
	}
	v := e.begin(RulePersistentChild, at, in)
	v.Evidence.Started = in.start
	v.Evidence.Window = int64(e.cfg.ChildWindow)
	v.Evidence.Deadline = in.start + int64(e.cfg.ChildWindow)
	if in.nSpawned > 0 {
		v.Evidence.Spawned = make([]string, in.nSpawned)
		for i := range v.Evidence.Spawned {
			v.Evidence.Spawned[i] = in.spawned[i].name
		}
	}
	e.msg("smss.exe session child (pid ").num(in.pid).msg(") still alive ").dur(at - in.start).msg(" after it started (window ").dur(int64(e.cfg.ChildWindow)).msg(")")
	e.finish(in)
}
