package detect

import "github.com/smsswatch/smsswatch/etw"

// checkImagePath: smss.image_path. An smss.exe must run from
// <SystemRoot>\System32\smss.exe; no image leaves the check unmade, and so
// does an NT device path on an unmapped volume.
func (e *Engine) checkImagePath(in *instance, ev *etw.Event) {
	if ev.Known&etw.FieldImage == 0 {
		e.stats.Unevaluated[RuleImagePath][GapImage]++
		return
	}
	switch e.inSystem32(ev.Proc.Image, "smss.exe") {
	case pathMismatch:
		e.fireImagePath(in, e.root32("smss.exe"), ev.Proc.Image)
	case pathUnknown:
		e.stats.Unevaluated[RuleImagePath][GapVolume]++
	}
}

// fireImagePath fires the image-path rule for a tracked instance.
func (e *Engine) fireImagePath(in *instance, expected, observed string) {
	v := e.begin(RuleImagePath, in.start, in)
	v.Evidence.Expected = expected
	v.Evidence.Observed = observed
	e.msg("smss.exe (pid ").num(in.pid).msg(") runs from ").msg(observed).msg(", not ").msg(expected)
	e.finish(in)
}
