// Package recorded is the detector over recorded data: the pipeline that
// hunt, replay, the detector's trace tests and the benchmarks share.
//
//	p := recorded.New(det, sink, recorded.Options{ReorderWindow: 15 * time.Minute, ReorderMax: 1 << 16})
//	err := p.Run(ctx, paths) // one pass over the inputs, side by side, then Finish
//	for _, st := range p.Streams() {
//		rep := st.Engine.Report()
//		...
//	}
//
// Each input is opened by content (etw/input's Open). Its events are routed to one
// stream per (host, source), put in event-time order by a bounded reorder
// buffer (DETECTION.md evidence rule 4) and fed to that stream's engine.
// The engines of one host share a detect.Host, so what one source proves
// about boots holds for all (rule 5). Boot records (System and Security
// start-up events) belong to every stream of their host, at the OS start
// they name. Several inputs are read side by side, always the earliest
// next event first, so one pass serves any number of files in any order.
// Records a reader cannot use are counted in Skips, by file and record.
package recorded
