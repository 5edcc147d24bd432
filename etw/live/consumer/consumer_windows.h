// Declarations shared by consumer_windows.c and the cgo preambles.

#pragma once

#include <stdint.h>
#include <windows.h>
#include <evntrace.h>
#include <evntcons.h>

// SMSS_INVALID_TRACE is what OpenTraceW returns on failure since Vista:
// (UINT64)UINTPTR_MAX, 0x00000000FFFFFFFF in a 32-bit process.
#define SMSS_INVALID_TRACE ((TRACEHANDLE)UINTPTR_MAX)

// smssOpenTrace opens the real-time session name for EVENT_RECORD
// callbacks carrying ctx; on failure it returns SMSS_INVALID_TRACE and
// stores GetLastError in *lastErr.
TRACEHANDLE smssOpenTrace(LPWSTR name, uintptr_t ctx, DWORD *lastErr);

// smssProcessTrace runs ProcessTrace on the one handle h.
ULONG smssProcessTrace(TRACEHANDLE h);

// smssCallbackForTest runs the EventRecordCallback on a record carrying
// ctx and pid (for the tests).
void smssCallbackForTest(uintptr_t ctx, ULONG pid);
