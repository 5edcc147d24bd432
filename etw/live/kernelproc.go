package live

import (
	"errors"
	"unsafe"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/live/kernelproc"
)

// Microsoft-Windows-Kernel-Process, the provider the live sensor enables.
const (
	// kernelProcessKeywordProcess is WINEVENT_KEYWORD_PROCESS: process
	// start, stop and rundown events only.
	kernelProcessKeywordProcess uint64 = 0x10
)

// Kernel-Process event IDs the live sensor decodes. Every other ID is
// dropped on the event header alone.
const (
	// eventProcessStart is ProcessStart (manifest versions 0 to 5).
	eventProcessStart = kernelproc.EventProcessStart
	// eventProcessStop is ProcessStop (versions 0 to 2).
	eventProcessStop = kernelproc.EventProcessStop
	// eventProcessRundown is ProcessRundown (versions 0 to 3), written
	// for every running process when a consumer asks for capture state.
	eventProcessRundown = kernelproc.EventProcessRundown
)

// wantKernelProcessEvent reports whether the live sensor decodes events
// with this ID.
func wantKernelProcessEvent(id uint16) bool {
	return id == eventProcessStart || id == eventProcessStop || id == eventProcessRundown
}

// filetimeEpochDelta is the number of 100 ns intervals between 1601-01-01
// (the FILETIME epoch) and 1970-01-01.
const filetimeEpochDelta = 116444736000000000

// filetimeToUnixNano converts a FILETIME (100 ns intervals since 1601,
// UTC) to Unix nanoseconds. Zero, and times before 1970 or after 2262, are
// not a time (ok false).
func filetimeToUnixNano(ft uint64) (int64, bool) {
	if ft <= filetimeEpochDelta {
		return 0, false
	}
	d := ft - filetimeEpochDelta
	if d > uint64(1<<63-1)/100 {
		return 0, false
	}
	return int64(d) * 100, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Extended data item types the session enables
// (EVENT_HEADER_EXTENDED_DATA_ITEM.ExtType).
const (
	extTypeSID  = 2 // EVENT_HEADER_EXT_TYPE_SID
	extTypeTSID = 3 // EVENT_HEADER_EXT_TYPE_TS_ID
)

// kpHeader is what kpDecoder needs from an event record besides its
// UserData: EVENT_HEADER fields and the extended data items the session
// enables (EVENT_ENABLE_PROPERTY_SID and _TS_ID).
type kpHeader struct {
	eventID uint16
	version uint8
	// flags is EVENT_HEADER.Flags (it gives the writer's pointer size).
	flags uint16
	// processID is EVENT_HEADER.ProcessId: for ProcessStart, the process
	// whose thread created the new process (the real creator).
	processID uint32
	// timeStamp is EVENT_HEADER.TimeStamp, Unix ns UTC.
	timeStamp int64
	// sid is the EVENT_HEADER_EXT_TYPE_SID item's bytes: the user of the
	// thread that wrote the event (for ProcessStart, the creator's user).
	sid []byte
	// terminalSession is the EVENT_HEADER_EXT_TYPE_TS_ID item (hasTS): the
	// writing thread's session. The event model has no field for the
	// creator's session, so it is read but not mapped.
	terminalSession uint32
	hasTS           bool
}

// addExt takes one extended data item; unknown types and short items are
// ignored.
func (h *kpHeader) addExt(typ uint16, data []byte) {
	switch typ {
	case extTypeSID:
		h.sid = data
	case extTypeTSID:
		if len(data) >= 4 {
			h.terminalSession = uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
			h.hasTS = true
		}
	}
}

// Bounds of the decoder's string caches (each is cleared when full).
const (
	maxImageCache = 4096
	maxSIDCache   = 1024
	// keyChunk is the size of the arenas process keys are carved from.
	keyChunk = 4096
)

// kpDecoder turns raw Kernel-Process records into events, on the ETW
// callback thread (one goroutine; not safe for concurrent use). It never
// calls TDH. Strings are made without a per-event allocation: image paths
// and SIDs come from bounded caches (a machine runs few distinct ones),
// sequence-number keys are carved from append-only arenas (one 4 KiB
// allocation per ~250 keys; a carved string's bytes are never written
// again).
type kpDecoder struct {
	d      *kernelproc.Decoder
	rec    kernelproc.Record
	images map[string]string
	sids   map[string]string
	sidBuf []byte
	keys   []byte
}

func newKPDecoder() *kpDecoder {
	return &kpDecoder{d: kernelproc.NewDecoder(), images: make(map[string]string, 256),
		sids: make(map[string]string, 16), sidBuf: make([]byte, 0, 192)}
}

// errKPNoImage is returned for a start or rundown record without an image
// name (cannot happen with the known layouts; kept for the invariant).
var errKPNoImage = errors.New("kernel-process record without ImageName")

// decode fills ev (after resetting it) from one Kernel-Process record: h
// is its header, userData its EVENT_RECORD.UserData. partial reports a
// record decoded only in part: a version newer than the newest known
// layout, or bytes after a known layout (the caller counts them). Errors
// wrap a kernelproc error (ErrTruncated, ErrMalformed, ErrUnknownEvent,
// ErrPointerSize).
//
// Mapping (the same event the TDH decoder made): ProcessID -> Proc.PID,
// ParentProcessID -> ParentPID, SessionID -> Session, ImageName -> Image
// (start and rundown only: the stop event's ImageName is the 15-character
// kernel short name, not a path), CreateTime, ExitTime, ExitCode,
// ProcessSequenceNumber -> Key and ParentProcessSequenceNumber -> ParentKey
// (decimal; 0 means none). For ProcessStart only, the header PID is
// CreatorPID and the SID extended item CreatorSID. An exit without a valid
// ExitTime takes the header time (the stop event is written as the process
// ends).
func (k *kpDecoder) decode(h *kpHeader, userData []byte, host string, ev *etw.Event) (partial bool, err error) {
	ev.Reset()
	r := &k.rec
	if err := k.d.Decode(userData, h.eventID, h.version, kernelproc.PointerSize(h.flags, int(unsafe.Sizeof(uintptr(0)))), r); err != nil {
		return false, err
	}
	partial = r.Newer || r.Trailing != 0
	switch h.eventID {
	case eventProcessStart:
		ev.Kind = etw.KindStart
	case eventProcessStop:
		ev.Kind = etw.KindExit
	default:
		ev.Kind = etw.KindRunning
	}
	ev.Time = h.timeStamp
	ev.Source = etw.SourceETW
	ev.Host = host
	p := &ev.Proc
	p.PID = r.ProcessID
	ev.Known |= etw.FieldPID
	if t, ok := filetimeToUnixNano(r.CreateTime); ok {
		p.CreateTime = t
		ev.Known |= etw.FieldCreateTime
	}
	if r.ProcessSequenceNumber != 0 {
		p.Key = k.key(r.ProcessSequenceNumber)
		ev.Known |= etw.FieldKey
	}
	if ev.Kind == etw.KindExit {
		p.ExitCode = r.ExitCode
		ev.Known |= etw.FieldExitCode
		p.ExitTime = h.timeStamp
		if t, ok := filetimeToUnixNano(r.ExitTime); ok {
			p.ExitTime = t
		}
		if p.ExitTime != 0 {
			ev.Known |= etw.FieldExitTime
		}
		return partial, nil
	}
	p.ParentPID = r.ParentProcessID
	p.Session = r.SessionID
	ev.Known |= etw.FieldParentPID | etw.FieldSession
	if r.ParentProcessSequenceNumber != 0 {
		p.ParentKey = k.key(r.ParentProcessSequenceNumber)
		ev.Known |= etw.FieldParentKey
	}
	if r.Has&kernelproc.FImageName == 0 {
		return partial, errKPNoImage
	}
	if len(r.ImageName) != 0 {
		p.Image = k.image(r.ImageName)
		ev.Known |= etw.FieldImage
	}
	if ev.Kind == etw.KindStart {
		p.CreatorPID = h.processID
		ev.Known |= etw.FieldCreatorPID
		if s := k.sidString(h.sid); s != "" {
			p.CreatorSID = s
			ev.Known |= etw.FieldCreatorSID
		}
	}
	return partial, nil
}

// image returns b as a string from the image cache.
func (k *kpDecoder) image(b []byte) string {
	if s, ok := k.images[string(b)]; ok {
		return s
	}
	if len(k.images) >= maxImageCache {
		clear(k.images)
	}
	s := string(b)
	k.images[s] = s
	return s
}

// sidString renders a binary SID (S-1-...), from a cache keyed by its
// bytes; "" for no SID or a malformed one.
func (k *kpDecoder) sidString(sid []byte) string {
	if len(sid) == 0 {
		return ""
	}
	if s, ok := k.sids[string(sid)]; ok {
		return s
	}
	b, ok := kernelproc.AppendSID(k.sidBuf[:0], sid)
	if !ok {
		return ""
	}
	if len(k.sids) >= maxSIDCache {
		clear(k.sids)
	}
	s := string(b)
	k.sids[string(sid)] = s
	return s
}

// key renders a sequence number in decimal, carved from the key arena.
func (k *kpDecoder) key(v uint64) string {
	if cap(k.keys)-len(k.keys) < 20 {
		k.keys = make([]byte, 0, keyChunk)
	}
	start := len(k.keys)
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	k.keys = append(k.keys, tmp[i:]...)
	return unsafe.String(&k.keys[start], len(k.keys)-start)
}
