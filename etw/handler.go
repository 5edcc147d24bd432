package etw

// Handler receives what a source observes: the live sensor (package
// etw/live) and the recorded pipeline deliver to it. *detect.Engine
// satisfies it. All three methods are called from one goroutine, never
// from an ETW callback.
type Handler interface {
	// Handle is given every event, in the order the sensor saw them.
	Handle(ev *Event)
	// Advance tells the handler the wall-clock time (Unix ns); the sensor
	// calls it at least every 250 ms (its AdvanceEvery) so that
	// deadlines (smss.persistent_child) fire without waiting for events.
	Advance(nowUnixNano int64)
	// Blind reports that the sensor may have missed events (sensor.blind):
	// the session stopped or was tampered with, events were lost or
	// dropped.
	Blind(nowUnixNano int64, reason string)
}
