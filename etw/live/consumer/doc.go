// Package consumer reads a real-time ETW session with a trace handle it
// owns, so that the handle can be closed (CloseTrace), unlike
// github.com/bi-zone/etw's Session.Process, which keeps it to itself.
//
// Use:
//
//	c, err := consumer.Open("smsswatch", func(r *consumer.Record) {
//		// On the ProcessTrace thread, one event at a time: filter on
//		// r.Header, copy what is needed from r.Data() and r.Extended(),
//		// enqueue, return. Never block, lock, log, panic or keep r.
//	})
//	if err != nil {
//		return err // e.g. the session does not exist
//	}
//	done := make(chan error, 1)
//	go func() { done <- c.Process() }() // blocks until the trace ends
//	...
//	c.Close()   // any goroutine, any time, idempotent
//	err = <-done // nil: closed, or the session stopped
//
// The session itself (StartTrace, EnableTraceEx2, stop) belongs to its
// controller; Open only attaches to it by name, in real-time,
// EVENT_RECORD mode (PROCESS_TRACE_MODE_REAL_TIME |
// PROCESS_TRACE_MODE_EVENT_RECORD). RAW_TIMESTAMP is not requested:
// Record.Header.TimeStamp is system time as a FILETIME, and
// EventHeader.UnixNano converts it (the value bi-zone's Event.TimeStamp
// carried).
//
// Rules the package enforces:
//   - At most one ProcessTrace per session name in the process: a Process
//     while another one runs for the same name (on any Consumer) returns
//     an error wrapping ErrBusy, and the name is free again only once that
//     ProcessTrace has returned.
//   - A Consumer runs Process once. Close may come before, during or after
//     it and more than once; ERROR_CTX_CLOSE_PENDING (Close during
//     Process) is success, and Process returns once ETW has delivered
//     what its buffers held, with nil. A Process called after Close (or a
//     second Process) returns an error wrapping ErrClosed.
//   - Record is EVENT_RECORD itself (its layout is checked against the C
//     headers by the Windows tests), handed over without copy or
//     allocation; it and what it points to are valid only during the
//     callback. Several Consumers coexist: each passes its own cgo.Handle
//     as the trace context.
//
// The package needs Windows and cgo (the EventRecordCallback is C); in
// other builds Open returns an error wrapping errors.ErrUnsupported.
package consumer
