//go:build windows && cgo

// The C half of the consumer: OpenTraceW in real-time, event-record mode
// with the Go context, the stdcall EventRecordCallback that enters Go, and
// ProcessTrace on one handle. Declared in consumer_windows.go.

#include "consumer_windows.h"

// smsswatchConsumerEvent is exported by consumer_windows.go.
extern void smsswatchConsumerEvent(PEVENT_RECORD rec);

static VOID WINAPI smssEventRecordCallback(PEVENT_RECORD rec) {
	smsswatchConsumerEvent(rec);
}

TRACEHANDLE smssOpenTrace(LPWSTR name, uintptr_t ctx, DWORD *lastErr) {
	EVENT_TRACE_LOGFILEW lf;
	ZeroMemory(&lf, sizeof lf);
	lf.LoggerName = name;
	// No PROCESS_TRACE_MODE_RAW_TIMESTAMP: EVENT_HEADER.TimeStamp arrives
	// as system time (FILETIME).
	lf.ProcessTraceMode = PROCESS_TRACE_MODE_REAL_TIME | PROCESS_TRACE_MODE_EVENT_RECORD;
	lf.EventRecordCallback = smssEventRecordCallback;
	// Delivered back as EVENT_RECORD.UserContext.
	lf.Context = (PVOID)ctx;
	TRACEHANDLE h = OpenTraceW(&lf);
	*lastErr = h == SMSS_INVALID_TRACE ? GetLastError() : ERROR_SUCCESS;
	return h;
}

ULONG smssProcessTrace(TRACEHANDLE h) {
	return ProcessTrace(&h, 1, NULL, NULL);
}

// smssCallbackForTest runs the EventRecordCallback as ProcessTrace would,
// on a zeroed record carrying ctx and pid (cgotest_windows.go).
void smssCallbackForTest(uintptr_t ctx, ULONG pid) {
	EVENT_RECORD rec;
	ZeroMemory(&rec, sizeof rec);
	rec.EventHeader.ProcessId = pid;
	rec.UserContext = (PVOID)ctx;
	smssEventRecordCallback(&rec);
}
