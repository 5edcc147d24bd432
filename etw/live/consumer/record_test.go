package consumer

import (
	"bytes"
	"testing"
	"time"
	"unsafe"
)

// TestRecordLayout64 pins the Go mirrors to the EVENT_RECORD layout of
// 64-bit Windows (evntcons.h: 112 bytes) on any 64-bit OS; the Windows
// test compares them with the C compiler's offsets.
func TestRecordLayout64(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the table is the 64-bit layout")
	}
	var r Record
	var h EventHeader
	var d EventDescriptor
	var it ExtendedDataItem
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(EVENT_RECORD)", unsafe.Sizeof(r), 112},
		{"EVENT_RECORD.BufferContext", unsafe.Offsetof(r.BufferContext), 80},
		{"EVENT_RECORD.ExtendedDataCount", unsafe.Offsetof(r.ExtendedDataCount), 84},
		{"EVENT_RECORD.UserDataLength", unsafe.Offsetof(r.UserDataLength), 86},
		{"EVENT_RECORD.ExtendedData", unsafe.Offsetof(r.ExtendedData), 88},
		{"EVENT_RECORD.UserData", unsafe.Offsetof(r.UserData), 96},
		{"EVENT_RECORD.UserContext", unsafe.Offsetof(r.UserContext), 104},
		{"sizeof(EVENT_HEADER)", unsafe.Sizeof(h), 80},
		{"EVENT_HEADER.ThreadId", unsafe.Offsetof(h.ThreadID), 8},
		{"EVENT_HEADER.ProcessId", unsafe.Offsetof(h.ProcessID), 12},
		{"EVENT_HEADER.TimeStamp", unsafe.Offsetof(h.TimeStamp), 16},
		{"EVENT_HEADER.ProviderId", unsafe.Offsetof(h.ProviderID), 24},
		{"EVENT_HEADER.EventDescriptor", unsafe.Offsetof(h.Descriptor), 40},
		{"EVENT_HEADER.ProcessorTime", unsafe.Offsetof(h.ProcessorTime), 56},
		{"EVENT_HEADER.ActivityId", unsafe.Offsetof(h.ActivityID), 64},
		{"sizeof(EVENT_DESCRIPTOR)", unsafe.Sizeof(d), 16},
		{"EVENT_DESCRIPTOR.Task", unsafe.Offsetof(d.Task), 6},
		{"EVENT_DESCRIPTOR.Keyword", unsafe.Offsetof(d.Keyword), 8},
		{"sizeof(ETW_BUFFER_CONTEXT)", unsafe.Sizeof(BufferContext{}), 4},
		{"sizeof(EVENT_HEADER_EXTENDED_DATA_ITEM)", unsafe.Sizeof(it), 16},
		{"EXTENDED_DATA_ITEM.DataPtr", unsafe.Offsetof(it.DataPtr), 8},
		{"sizeof(GUID)", unsafe.Sizeof(GUID{}), 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("Go mirror has %d, evntcons.h %d", tc.got, tc.want)
			}
		})
	}
}

func TestUnixNano(t *testing.T) {
	tests := []struct {
		name string
		ft   int64
		want time.Time
	}{
		{"Unix epoch", 116444736000000000, time.Unix(0, 0)},
		{"2026-12-02 16:00:00.1234567", 116444736000000000 + time.Date(2026, 12, 2, 16, 0, 0, 123456700, time.UTC).UnixNano()/100,
			time.Date(2026, 12, 2, 16, 0, 0, 123456700, time.UTC)},
		{"before 1970", 116444736000000000 - 10, time.Unix(0, -1000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := EventHeader{TimeStamp: tc.ft}
			if got := h.UnixNano(); got != tc.want.UnixNano() {
				t.Errorf("UnixNano() = %d, want %d", got, tc.want.UnixNano())
			}
		})
	}
}

// TestRecordViews checks that Data, Extended and ExtendedDataItem.Data
// view the memory the record points to, and are nil when it has none.
func TestRecordViews(t *testing.T) {
	user := []byte{1, 2, 3, 4, 5}
	sid := []byte{9, 8, 7}
	items := []ExtendedDataItem{{ExtType: 1, DataSize: uint16(len(sid))}, {ExtType: 8}}
	*(*unsafe.Pointer)(unsafe.Pointer(&items[0].DataPtr)) = unsafe.Pointer(&sid[0])
	tests := []struct {
		name     string
		rec      Record
		data     []byte
		extended int
	}{
		{"empty", Record{}, nil, 0},
		{"length without pointer", Record{UserDataLength: 4, ExtendedDataCount: 2}, nil, 0},
		{"pointer without length", Record{UserData: unsafe.Pointer(&user[0]), ExtendedData: &items[0]}, nil, 0},
		{"both", Record{UserData: unsafe.Pointer(&user[0]), UserDataLength: uint16(len(user)),
			ExtendedData: &items[0], ExtendedDataCount: uint16(len(items))}, user, len(items)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.Data(); !bytes.Equal(got, tc.data) || (got == nil) != (tc.data == nil) {
				t.Errorf("Data() = %v, want %v", got, tc.data)
			}
			ext := tc.rec.Extended()
			if len(ext) != tc.extended {
				t.Fatalf("Extended() has %d items, want %d", len(ext), tc.extended)
			}
			if tc.extended == 0 {
				return
			}
			if &ext[0] != &items[0] {
				t.Error("Extended() copied the items")
			}
			if got := ext[0].Data(); !bytes.Equal(got, sid) {
				t.Errorf("item 0 Data() = %v, want %v", got, sid)
			}
			if got := ext[1].Data(); got != nil {
				t.Errorf("item 1 (no pointer) Data() = %v, want nil", got)
			}
		})
	}
}
