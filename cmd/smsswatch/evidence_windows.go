package main

import (
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/eventlog"
)

// openEvidenceLog opens the Application event log under source (the
// service name), registering the source when it is missing (needs an
// administrator; `service install` does it). It never fails: without an
// event log the evidence is discarded and the log file still has it.
func openEvidenceLog(source string) evidenceLog {
	l, err := eventlog.Open(source)
	if err != nil {
		return nopEvidence{}
	}
	return l
}

// installEvidenceSource registers source in the Application event log.
func installEvidenceSource(source string) error {
	// InstallAsEventCreate fails on an existing source (with an error
	// that can only be told by its text): look first.
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Services\EventLog\Application\`+source, registry.QUERY_VALUE)
	if err == nil {
		k.Close()
		return nil
	}
	return eventlog.InstallAsEventCreate(source, eventlog.Error|eventlog.Warning|eventlog.Info)
}
