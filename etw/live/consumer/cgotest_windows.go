//go:build windows && cgo

package consumer

// C accessors for the Windows tests (cgo is not allowed in _test.go
// files): the C layout of the mirrored structures, and a way through the
// C EventRecordCallback.

/*
#include <stddef.h>
#include "consumer_windows.h"

// The C side of the layout check (consumer_windows_test.go): the sizes and
// offsets of the structures Record mirrors, in layoutNames order.
static const size_t smssLayout[] = {
	sizeof(EVENT_RECORD),
	offsetof(EVENT_RECORD, EventHeader),
	offsetof(EVENT_RECORD, BufferContext),
	offsetof(EVENT_RECORD, ExtendedDataCount),
	offsetof(EVENT_RECORD, UserDataLength),
	offsetof(EVENT_RECORD, ExtendedData),
	offsetof(EVENT_RECORD, UserData),
	offsetof(EVENT_RECORD, UserContext),
	sizeof(EVENT_HEADER),
	offsetof(EVENT_HEADER, Size),
	offsetof(EVENT_HEADER, HeaderType),
	offsetof(EVENT_HEADER, Flags),
	offsetof(EVENT_HEADER, EventProperty),
	offsetof(EVENT_HEADER, ThreadId),
	offsetof(EVENT_HEADER, ProcessId),
	offsetof(EVENT_HEADER, TimeStamp),
	offsetof(EVENT_HEADER, ProviderId),
	offsetof(EVENT_HEADER, EventDescriptor),
	offsetof(EVENT_HEADER, ProcessorTime),
	offsetof(EVENT_HEADER, KernelTime),
	offsetof(EVENT_HEADER, UserTime),
	offsetof(EVENT_HEADER, ActivityId),
	sizeof(EVENT_DESCRIPTOR),
	offsetof(EVENT_DESCRIPTOR, Id),
	offsetof(EVENT_DESCRIPTOR, Version),
	offsetof(EVENT_DESCRIPTOR, Channel),
	offsetof(EVENT_DESCRIPTOR, Level),
	offsetof(EVENT_DESCRIPTOR, Opcode),
	offsetof(EVENT_DESCRIPTOR, Task),
	offsetof(EVENT_DESCRIPTOR, Keyword),
	sizeof(ETW_BUFFER_CONTEXT),
	offsetof(ETW_BUFFER_CONTEXT, ProcessorNumber),
	offsetof(ETW_BUFFER_CONTEXT, Alignment),
	offsetof(ETW_BUFFER_CONTEXT, ProcessorIndex),
	offsetof(ETW_BUFFER_CONTEXT, LoggerId),
	sizeof(EVENT_HEADER_EXTENDED_DATA_ITEM),
	offsetof(EVENT_HEADER_EXTENDED_DATA_ITEM, Reserved1),
	offsetof(EVENT_HEADER_EXTENDED_DATA_ITEM, ExtType),
	offsetof(EVENT_HEADER_EXTENDED_DATA_ITEM, DataSize),
	offsetof(EVENT_HEADER_EXTENDED_DATA_ITEM, DataPtr),
	sizeof(GUID),
	offsetof(GUID, Data1),
	offsetof(GUID, Data2),
	offsetof(GUID, Data3),
	offsetof(GUID, Data4),
};

static size_t smssLayoutAt(int i) {
	return i >= 0 && i < (int)(sizeof smssLayout / sizeof smssLayout[0]) ? smssLayout[i] : (size_t)-1;
}
static int smssLayoutLen(void) { return (int)(sizeof smssLayout / sizeof smssLayout[0]); }
*/
import "C"

import "runtime/cgo"

// layoutNames names the entries of layoutC, in its order; the Windows
// test pairs each with the Go mirror's unsafe.Sizeof or Offsetof.
var layoutNames = [...]string{
	"sizeof(EVENT_RECORD)",
	"EVENT_RECORD.EventHeader",
	"EVENT_RECORD.BufferContext",
	"EVENT_RECORD.ExtendedDataCount",
	"EVENT_RECORD.UserDataLength",
	"EVENT_RECORD.ExtendedData",
	"EVENT_RECORD.UserData",
	"EVENT_RECORD.UserContext",
	"sizeof(EVENT_HEADER)",
	"EVENT_HEADER.Size",
	"EVENT_HEADER.HeaderType",
	"EVENT_HEADER.Flags",
	"EVENT_HEADER.EventProperty",
	"EVENT_HEADER.ThreadId",
	"EVENT_HEADER.ProcessId",
	"EVENT_HEADER.TimeStamp",
	"EVENT_HEADER.ProviderId",
	"EVENT_HEADER.EventDescriptor",
	"EVENT_HEADER.ProcessorTime",
	"EVENT_HEADER.KernelTime",
	"EVENT_HEADER.UserTime",
	"EVENT_HEADER.ActivityId",
	"sizeof(EVENT_DESCRIPTOR)",
	"EVENT_DESCRIPTOR.Id",
	"EVENT_DESCRIPTOR.Version",
	"EVENT_DESCRIPTOR.Channel",
	"EVENT_DESCRIPTOR.Level",
	"EVENT_DESCRIPTOR.Opcode",
	"EVENT_DESCRIPTOR.Task",
	"EVENT_DESCRIPTOR.Keyword",
	"sizeof(ETW_BUFFER_CONTEXT)",
	"ETW_BUFFER_CONTEXT.ProcessorNumber",
	"ETW_BUFFER_CONTEXT.Alignment",
	"ETW_BUFFER_CONTEXT.ProcessorIndex",
	"ETW_BUFFER_CONTEXT.LoggerId",
	"sizeof(EVENT_HEADER_EXTENDED_DATA_ITEM)",
	"EXTENDED_DATA_ITEM.Reserved1",
	"EXTENDED_DATA_ITEM.ExtType",
	"EXTENDED_DATA_ITEM.DataSize",
	"EXTENDED_DATA_ITEM.DataPtr",
	"sizeof(GUID)",
	"GUID.Data1",
	"GUID.Data2",
	"GUID.Data3",
	"GUID.Data4",
}

// layoutC returns the C compiler's sizes and offsets, keyed by
// layoutNames, and how many values the C table has (a mismatch with
// len(layoutNames) means the two lists drifted apart).
func layoutC() (map[string]uintptr, int) {
	m := make(map[string]uintptr, len(layoutNames))
	for i, name := range layoutNames {
		m[name] = uintptr(C.smssLayoutAt(C.int(i)))
	}
	return m, int(C.smssLayoutLen())
}

// callbackC runs the C EventRecordCallback, as ProcessTrace does, on a
// record (in C memory) whose UserContext is ctx and ProcessId pid.
func callbackC(ctx cgo.Handle, pid uint32) {
	C.smssCallbackForTest(C.uintptr_t(ctx), C.ULONG(pid))
}
