package consumer

import (
	"errors"
	"unsafe"
)

// ErrBusy is returned by Process while a ProcessTrace already runs for the
// same session name in this process (on this Consumer or another one).
var ErrBusy = errors.New("a ProcessTrace already runs for this ETW session")

// ErrClosed is returned by Process when the Consumer was closed before
// ProcessTrace started, or when its Process has already returned once (a
// Consumer delivers one run; Open a new one to consume again).
var ErrClosed = errors.New("ETW consumer closed")

// GUID is a Windows GUID in its in-memory layout; it converts to
// golang.org/x/sys/windows.GUID with a plain conversion.
type GUID struct {
	Data1 uint32
	Data2 uint16
	Data3 uint16
	Data4 [8]byte
}

// EventDescriptor mirrors EVENT_DESCRIPTOR (evntprov.h).
type EventDescriptor struct {
	ID      uint16
	Version uint8
	Channel uint8
	Level   uint8
	Opcode  uint8
	Task    uint16
	Keyword uint64
}

// EventHeader mirrors EVENT_HEADER (evntcons.h).
type EventHeader struct {
	Size          uint16
	HeaderType    uint16
	Flags         uint16 // EVENT_HEADER_FLAG_*
	EventProperty uint16
	ThreadID      uint32
	ProcessID     uint32
	// TimeStamp is a FILETIME (100 ns units since 1601-01-01 UTC): the
	// consumer does not ask for PROCESS_TRACE_MODE_RAW_TIMESTAMP, so ETW
	// converts the session's clock to system time. See UnixNano.
	TimeStamp  int64
	ProviderID GUID
	Descriptor EventDescriptor
	// ProcessorTime is the union of KernelTime/UserTime (two ULONGs, low
	// half first) and ProcessorTime.
	ProcessorTime uint64
	ActivityID    GUID
}

// filetimeUnixEpoch is 1970-01-01 UTC as a FILETIME.
const filetimeUnixEpoch = 116444736000000000

// UnixNano returns TimeStamp as nanoseconds since the Unix epoch.
func (h *EventHeader) UnixNano() int64 {
	return (h.TimeStamp - filetimeUnixEpoch) * 100
}

// BufferContext mirrors ETW_BUFFER_CONTEXT (evntrace.h); ProcessorNumber
// and Alignment share their two bytes with ProcessorIndex.
type BufferContext struct {
	ProcessorNumber uint8
	Alignment       uint8
	LoggerID        uint16
}

// ExtendedDataItem mirrors EVENT_HEADER_EXTENDED_DATA_ITEM (evntcons.h).
// Reserved1 holds the Reserved1 USHORT; Linkage holds the Linkage:1 and
// Reserved2:15 bit fields.
type ExtendedDataItem struct {
	Reserved1 uint16
	ExtType   uint16 // EVENT_HEADER_EXT_TYPE_*
	Linkage   uint16
	DataSize  uint16
	DataPtr   uint64 // a pointer, zero-extended on 32-bit Windows
}

// Data returns the item's bytes, in ETW's buffer: valid only inside the
// callback, like the Record.
func (it *ExtendedDataItem) Data() []byte {
	// DataPtr is a ULONGLONG holding a pointer (its low half on 32-bit
	// Windows, which is little-endian).
	p := *(*unsafe.Pointer)(unsafe.Pointer(&it.DataPtr))
	if p == nil || it.DataSize == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), it.DataSize)
}

// Record mirrors EVENT_RECORD (evntcons.h) field for field: the callback
// receives ETW's own record, not a copy. It and everything it points to
// belong to ProcessTrace and are valid only until the callback returns.
// The layout is pinned against the C headers by the package's Windows
// tests.
type Record struct {
	Header            EventHeader
	BufferContext     BufferContext
	ExtendedDataCount uint16
	UserDataLength    uint16
	ExtendedData      *ExtendedDataItem // ExtendedDataCount items
	UserData          unsafe.Pointer    // UserDataLength bytes
	// UserContext is the consumer's own context (EVENT_TRACE_LOGFILEW.Context).
	UserContext uintptr
}

// Data returns the event's user data (UserData, UserDataLength) without
// copying: valid only inside the callback.
func (r *Record) Data() []byte {
	if r.UserData == nil || r.UserDataLength == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(r.UserData), r.UserDataLength)
}

// Extended returns the extended data items without copying: valid only
// inside the callback.
func (r *Record) Extended() []ExtendedDataItem {
	if r.ExtendedData == nil || r.ExtendedDataCount == 0 {
		return nil
	}
	return unsafe.Slice(r.ExtendedData, r.ExtendedDataCount)
}
