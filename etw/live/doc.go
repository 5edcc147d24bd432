// Package live is the live sensor: a real-time Microsoft-Windows-Kernel-Process
// ETW session on Windows, turned into etw.Events for a Handler
// (*detect.Engine). It is used like this (cmd/smsswatch's run does it):
//
//	s, err := live.New(live.Config{}) // fails with etw.ErrUnsupported off Windows
//	if err != nil { ... }
//	cfg.SystemRoot = s.SystemRoot()   // the detector's configuration needs it first
//	cfg.ConfirmRunning = s.Confirmer() // a lost ProcessStop is not an alert
//	for _, d := range s.Devices() { det.MapDevice(d.Device, d.Drive) }
//	err = s.Run(ctx, engine)          // until ctx ends; restarts the session itself
//
// Run takes a process snapshot first (the processes already running, as
// KindRunning events, and the boot evidence), then feeds ProcessStart and
// ProcessStop events in time order, advances the handler's clock at least
// every 250 ms and reports sensor.blind whenever events may have been
// missed: the session stopped or was tampered with, ETW lost events, the
// queue overflowed, the canary process was not seen.
//
// The ETW callback only decodes the raw EVENT_RECORD (package
// etw/live/kernelproc, no TDH) into a value and enqueues it (Queue, a
// fixed-size single-producer ring); everything else runs on Run's
// goroutine. Only this package and its sub-packages import the ETW library
// and golang.org/x/sys/windows. windows.md, next to this file, is the
// checklist for a real Windows host: what only a real host can verify.
package live
