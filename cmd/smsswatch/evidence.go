package main

import (
	"github.com/smsswatch/smsswatch/etw"
)

// evidenceLog is the local, tamper-evident record of the sensor's life:
// the Windows Event Log (Application, source "smsswatch") on Windows, so
// that sensor.blind and start/stop survive a NATS outage. Tests use a
// recorder.
type evidenceLog interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Close() error
}

// Event IDs the sensor writes.
const (
	evidenceStart uint32 = 1
	evidenceStop  uint32 = 2
	evidenceBlind uint32 = 3
)

// evidenceHandler passes everything to next and writes every sensor.blind
// to the evidence log as a warning (the live sensor's goroutine only; a
// blind spot is rare, so the write's cost does not matter).
type evidenceHandler struct {
	next etw.Handler
	log  evidenceLog
}

// Handle implements etw.Handler.
func (h *evidenceHandler) Handle(ev *etw.Event) { h.next.Handle(ev) }

// Advance implements etw.Handler.
func (h *evidenceHandler) Advance(now int64) { h.next.Advance(now) }

// Blind implements etw.Handler.
func (h *evidenceHandler) Blind(now int64, reason string) {
	_ = h.log.Warning(evidenceBlind, "sensor.blind: "+sanitizeLine(reason))
	h.next.Blind(now, reason)
}

// nopEvidence discards (no event log, or it cannot be opened).
type nopEvidence struct{}

func (nopEvidence) Info(uint32, string) error    { return nil }
func (nopEvidence) Warning(uint32, string) error { return nil }
func (nopEvidence) Close() error                 { return nil }
