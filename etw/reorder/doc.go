// Package reorder puts one stream of recorded events back in time order
// before the detector sees it, in bounded memory:
//
//	budget := reorder.NewBudget(8 << 20)   // shared by every stream of a run
//	q := reorder.New(15*time.Minute, 100_000)
//	q.UseBudget(budget)
//	q.Push(&ev)
//	for q.Pop(&out) { engine.Handle(&out) }
//	q.Flush()                              // at the end of the input, then Pop again
//
// What was released early (over the count cap or the shared byte budget)
// and what arrived after its window had passed are counted in Stats, never
// lost silently. The recorded pipeline (detect/recorded) keeps one Buffer
// per (host, source).
package reorder
