//go:build windows && cgo

package consumer

import (
	"errors"
	"runtime/cgo"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// GUID converts to windows.GUID (the live sensor compares provider IDs
// with one).
var _ = windows.GUID(GUID{})

// TestLayoutMatchesC compares every mirrored size and offset with the C
// compiler's (layoutC, from the Windows SDK headers cgo built against).
func TestLayoutMatchesC(t *testing.T) {
	c, n := layoutC()
	if n != len(layoutNames) {
		t.Fatalf("the C layout table has %d entries, layoutNames %d", n, len(layoutNames))
	}
	var r Record
	var h EventHeader
	var d EventDescriptor
	var b BufferContext
	var it ExtendedDataItem
	var g GUID
	goSide := map[string]uintptr{
		"sizeof(EVENT_RECORD)":                    unsafe.Sizeof(r),
		"EVENT_RECORD.EventHeader":                unsafe.Offsetof(r.Header),
		"EVENT_RECORD.BufferContext":              unsafe.Offsetof(r.BufferContext),
		"EVENT_RECORD.ExtendedDataCount":          unsafe.Offsetof(r.ExtendedDataCount),
		"EVENT_RECORD.UserDataLength":             unsafe.Offsetof(r.UserDataLength),
		"EVENT_RECORD.ExtendedData":               unsafe.Offsetof(r.ExtendedData),
		"EVENT_RECORD.UserData":                   unsafe.Offsetof(r.UserData),
		"EVENT_RECORD.UserContext":                unsafe.Offsetof(r.UserContext),
		"sizeof(EVENT_HEADER)":                    unsafe.Sizeof(h),
		"EVENT_HEADER.Size":                       unsafe.Offsetof(h.Size),
		"EVENT_HEADER.HeaderType":                 unsafe.Offsetof(h.HeaderType),
		"EVENT_HEADER.Flags":                      unsafe.Offsetof(h.Flags),
		"EVENT_HEADER.EventProperty":              unsafe.Offsetof(h.EventProperty),
		"EVENT_HEADER.ThreadId":                   unsafe.Offsetof(h.ThreadID),
		"EVENT_HEADER.ProcessId":                  unsafe.Offsetof(h.ProcessID),
		"EVENT_HEADER.TimeStamp":                  unsafe.Offsetof(h.TimeStamp),
		"EVENT_HEADER.ProviderId":                 unsafe.Offsetof(h.ProviderID),
		"EVENT_HEADER.EventDescriptor":            unsafe.Offsetof(h.Descriptor),
		"EVENT_HEADER.ProcessorTime":              unsafe.Offsetof(h.ProcessorTime),
		"EVENT_HEADER.KernelTime":                 unsafe.Offsetof(h.ProcessorTime),
		"EVENT_HEADER.UserTime":                   unsafe.Offsetof(h.ProcessorTime) + 4,
		"EVENT_HEADER.ActivityId":                 unsafe.Offsetof(h.ActivityID),
		"sizeof(EVENT_DESCRIPTOR)":                unsafe.Sizeof(d),
		"EVENT_DESCRIPTOR.Id":                     unsafe.Offsetof(d.ID),
		"EVENT_DESCRIPTOR.Version":                unsafe.Offsetof(d.Version),
		"EVENT_DESCRIPTOR.Channel":                unsafe.Offsetof(d.Channel),
		"EVENT_DESCRIPTOR.Level":                  unsafe.Offsetof(d.Level),
		"EVENT_DESCRIPTOR.Opcode":                 unsafe.Offsetof(d.Opcode),
		"EVENT_DESCRIPTOR.Task":                   unsafe.Offsetof(d.Task),
		"EVENT_DESCRIPTOR.Keyword":                unsafe.Offsetof(d.Keyword),
		"sizeof(ETW_BUFFER_CONTEXT)":              unsafe.Sizeof(b),
		"ETW_BUFFER_CONTEXT.ProcessorNumber":      unsafe.Offsetof(b.ProcessorNumber),
		"ETW_BUFFER_CONTEXT.Alignment":            unsafe.Offsetof(b.Alignment),
		"ETW_BUFFER_CONTEXT.ProcessorIndex":       unsafe.Offsetof(b.ProcessorNumber),
		"ETW_BUFFER_CONTEXT.LoggerId":             unsafe.Offsetof(b.LoggerID),
		"sizeof(EVENT_HEADER_EXTENDED_DATA_ITEM)": unsafe.Sizeof(it),
		"EXTENDED_DATA_ITEM.Reserved1":            unsafe.Offsetof(it.Reserved1),
		"EXTENDED_DATA_ITEM.ExtType":              unsafe.Offsetof(it.ExtType),
		"EXTENDED_DATA_ITEM.DataSize":             unsafe.Offsetof(it.DataSize),
		"EXTENDED_DATA_ITEM.DataPtr":              unsafe.Offsetof(it.DataPtr),
		"sizeof(GUID)":                            unsafe.Sizeof(g),
		"GUID.Data1":                              unsafe.Offsetof(g.Data1),
		"GUID.Data2":                              unsafe.Offsetof(g.Data2),
		"GUID.Data3":                              unsafe.Offsetof(g.Data3),
		"GUID.Data4":                              unsafe.Offsetof(g.Data4),
	}
	if len(goSide) != len(layoutNames) {
		t.Errorf("the Go side has %d entries, layoutNames %d", len(goSide), len(layoutNames))
	}
	for _, name := range layoutNames {
		t.Run(name, func(t *testing.T) {
			got, ok := goSide[name]
			if !ok {
				t.Fatal("no Go counterpart")
			}
			if want := c[name]; got != want {
				t.Errorf("Go mirror has %d, C %d", got, want)
			}
		})
	}
}

// TestOpenMissingSession opens sessions that do not exist (or that the
// name cannot reach): Open fails with the OpenTraceW code and the session
// name, and leaves no Consumer behind.
func TestOpenMissingSession(t *testing.T) {
	tests := []struct {
		name    string
		session string
	}{
		{"no such session", "smsswatch-consumer-test-no-such-session"},
		{"empty name", ""},
		{"NUL in name", "smss\x00watch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			c, err := Open(tc.session, func(*Record) { called = true })
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("Open(%q): %v", tc.session, err)
			if c != nil {
				t.Errorf("Open returned a Consumer with error %v", err)
			}
			if !strings.Contains(err.Error(), "ETW consumer") {
				t.Errorf("error %q does not say what failed", err)
			}
			if tc.session == "smsswatch-consumer-test-no-such-session" {
				var errno syscall.Errno
				if !errors.As(err, &errno) || errno == 0 {
					t.Errorf("error %v carries no Win32 code", err)
				}
				if !strings.Contains(err.Error(), tc.session) {
					t.Errorf("error %q does not name the session", err)
				}
			}
			if called {
				t.Error("the callback was called")
			}
		})
	}
	t.Run("nil callback", func(t *testing.T) {
		if c, err := Open("smsswatch", nil); err == nil || c != nil {
			t.Errorf("Open(nil callback) = %v, %v", c, err)
		}
	})
}

// invalidConsumer is a Consumer whose trace handle is 0, which CloseTrace
// and ProcessTrace reject (ERROR_INVALID_HANDLE): it exercises the real
// trace calls where no session can be opened (wine).
func invalidConsumer(fn func(*Record)) *Consumer {
	c := &Consumer{fn: fn}
	c.ctx = cgo.NewHandle(c)
	c.life = c.newLifecycle("smsswatch-consumer-test-invalid")
	return c
}

// TestCloseSafe checks Close twice and Close without Process on the real
// CloseTrace, and that Process after Close returns without calling
// ProcessTrace.
func TestCloseSafe(t *testing.T) {
	tests := []struct {
		name      string
		processed bool // Process (failing on the invalid handle) before Close
	}{
		{"Close without Process", false},
		{"Close after a failed Process", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := invalidConsumer(func(*Record) {})
			if tc.processed {
				err := c.Process()
				var errno syscall.Errno
				if !errors.As(err, &errno) || errno == 0 || errors.Is(err, ErrClosed) {
					t.Errorf("Process on an invalid handle = %v, want a Win32 error", err)
				}
			}
			err := c.Close()
			t.Logf("first Close: %v", err)
			var errno syscall.Errno
			if !errors.As(err, &errno) || errno == 0 {
				t.Errorf("first Close of an invalid handle = %v, want CloseTrace's error", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
			if err := c.Process(); !errors.Is(err, ErrClosed) {
				t.Errorf("Process after Close = %v, want ErrClosed", err)
			}
			if !c.life.freed {
				t.Error("the context handle was not freed")
			}
		})
	}
}

// TestDispatch checks that the callback path finds its Consumer through
// the record's context and hands over the record itself, without
// allocating; two Consumers coexist.
func TestDispatch(t *testing.T) {
	var got [2]*Record
	cs := [2]*Consumer{
		invalidConsumer(func(r *Record) { got[0] = r }),
		invalidConsumer(func(r *Record) { got[1] = r }),
	}
	defer cs[0].Close()
	defer cs[1].Close()
	recs := [2]Record{{UserContext: uintptr(cs[0].ctx)}, {UserContext: uintptr(cs[1].ctx)}}
	tests := []struct {
		name string
		i    int
	}{{"first consumer", 0}, {"second consumer", 1}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = [2]*Record{}
			dispatch(&recs[tc.i])
			if got[tc.i] != &recs[tc.i] || got[1-tc.i] != nil {
				t.Errorf("callbacks got %p %p, want the record %p in #%d only", got[0], got[1], &recs[tc.i], tc.i)
			}
			if a := testing.AllocsPerRun(100, func() { dispatch(&recs[tc.i]) }); a != 0 {
				t.Errorf("dispatch allocates %v times per event", a)
			}
		})
	}
}

// TestCallbackThroughC delivers a record through the C EventRecordCallback
// and the exported Go function, as ProcessTrace would.
func TestCallbackThroughC(t *testing.T) {
	tests := []struct {
		name string
		pid  uint32
	}{{"pid 4", 4}, {"pid 4242", 4242}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls int
			var pid uint32
			var ctx uintptr
			c := invalidConsumer(func(r *Record) {
				calls++
				pid, ctx = r.Header.ProcessID, r.UserContext
			})
			defer c.Close()
			callbackC(c.ctx, tc.pid)
			if calls != 1 || pid != tc.pid || ctx != uintptr(c.ctx) {
				t.Errorf("callback: %d calls, ProcessID %d, UserContext %#x; want 1, %d, %#x", calls, pid, ctx, tc.pid, uintptr(c.ctx))
			}
		})
	}
}
