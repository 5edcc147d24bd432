// Package detect is the smss.exe state machine: it turns the event stream
// of one host, as seen by one source, into violations of the rules in
// DETECTION.md.
//
// A Detector holds the validated configuration; Detector.Engine makes one
// Engine per (host, source). An Engine is fed events in time order with
// Handle and the advance of time with Advance (event time for recorded
// data, the wall clock live); it is single-threaded, has no goroutines or
// locks, and is deterministic. Violations go to a Sink synchronously. The
// one question it asks outside its events is live only and optional:
// Config.ConfirmRunning, at a session child's deadline.
//
// Only positive evidence fires a rule: a field a source does not carry
// leaves the rule unevaluated and is counted in Stats.Unevaluated.
package detect
