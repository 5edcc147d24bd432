// Package etw holds the event model every smsswatch source produces (Event:
// a process start, exit or already-running record, a registry change, or
// boot evidence) and the sources themselves: the native trace format, the
// importers for Sysmon and Security logs (EVTX and forwarded JSON), and on
// Windows the live Microsoft-Windows-Kernel-Process ETW session.
//
// The detector (package detect) consumes only Event, so every source maps
// its records onto the fields of DETECTION.md and marks what it does not
// know in Event.Known.
package etw
