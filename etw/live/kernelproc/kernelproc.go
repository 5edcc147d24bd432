package kernelproc

import "encoding/binary"

// Event IDs of the Kernel-Process events this package decodes.
const (
	// EventProcessStart is ProcessStart (versions 0-5).
	EventProcessStart uint16 = 1
	// EventProcessStop is ProcessStop (versions 0-2).
	EventProcessStop uint16 = 2
	// EventProcessRundown is ProcessRundown (versions 0-3), written for
	// every running process when a consumer asks for capture state.
	EventProcessRundown uint16 = 15
)

// The newest version of each event whose layout is known. A newer version
// decodes this layout as a prefix (Record.Newer).
const (
	MaxStartVersion   uint8 = 5
	MaxStopVersion    uint8 = 2
	MaxRundownVersion uint8 = 3
)

// EVENT_HEADER.Flags bits that give the writer's pointer size.
const (
	HeaderFlag32BitHeader uint16 = 0x0020
	HeaderFlag64BitHeader uint16 = 0x0040
)

// PointerSize returns the pointer size (4 or 8) of the event's writer from
// EVENT_HEADER.Flags, or native when neither flag is set.
func PointerSize(headerFlags uint16, native int) int {
	switch {
	case headerFlags&HeaderFlag64BitHeader != 0:
		return 8
	case headerFlags&HeaderFlag32BitHeader != 0:
		return 4
	}
	return native
}

// Error is the type of every error Decode returns; compare with errors.Is
// against the values below.
type Error struct{ msg string }

// Error returns "kernel-process event data: " and the reason.
func (e *Error) Error() string { return "kernel-process event data: " + e.msg }

// The decoder's errors. They are made once: the ETW callback counts them
// and must not allocate. Record.ErrField and Record.ErrOffset say where
// decoding stopped.
var (
	// ErrTruncated: the data ends before the layout does (a missing
	// field or a string without its terminating NUL).
	ErrTruncated = &Error{"truncated"}
	// ErrMalformed: a SID that is not a SID (revision not 1, more than
	// 15 sub-authorities).
	ErrMalformed = &Error{"malformed SID"}
	// ErrUnknownEvent: an event ID other than 1, 2 and 15.
	ErrUnknownEvent = &Error{"event ID is not ProcessStart, ProcessStop or ProcessRundown"}
	// ErrPointerSize: a pointer size other than 4 or 8.
	ErrPointerSize = &Error{"pointer size is not 4 or 8"}
)

// Field names one field of a template; Record.Has says which the decoded
// version carries.
type Field uint32

// The fields of the three templates.
const (
	FProcessID Field = 1 << iota
	FProcessSequenceNumber
	FCreateTime
	FExitTime
	FParentProcessID
	FParentProcessSequenceNumber
	FSessionID
	FFlags
	FExitCode
	FTokenElevationType
	FTokenIsElevated
	FMandatoryLabel
	FImageName
	FImageChecksum
	FTimeDateStamp
	FPackageFullName
	FPackageRelativeAppID
	FSecurityMitigations
	FPartitionID
	FProcessMachine
	FHandleCount
	FCommitCharge
	FCommitPeak
	FCPUCycleCount
	FReadOperationCount
	FWriteOperationCount
	FReadTransferKiloBytes
	FWriteTransferKiloBytes
	FHardFaultCount
)

// Record is one decoded event. The byte slices point into the data passed
// to Decode (MandatoryLabel, the package strings, the stop event's ANSI
// image name) or into the Decoder's own buffer (ImageName for start and
// rundown): they are valid until the next Decode with the same Decoder and
// while the data is.
type Record struct {
	// EventID and Version are the inputs; Layout is the version whose
	// layout was decoded (Version, or the newest known for Newer).
	EventID uint16
	Version uint8
	Layout  uint8
	// Newer is set when Version is newer than the newest known layout,
	// which was decoded as a prefix.
	Newer bool
	// Trailing is the number of bytes after the decoded layout (0 for an
	// exact match).
	Trailing int
	// PointerSize is the writer's pointer size (4 or 8).
	PointerSize uint8
	// Has says which fields the layout carries.
	Has Field

	ProcessID                   uint32
	ProcessSequenceNumber       uint64
	CreateTime                  uint64 // FILETIME
	ExitTime                    uint64 // FILETIME (stop)
	ParentProcessID             uint32
	ParentProcessSequenceNumber uint64
	SessionID                   uint32
	Flags                       uint32
	ExitCode                    uint32
	// TokenElevationType is ProcessTokenElevationType (start, rundown) or
	// TokenElevationType (stop).
	TokenElevationType uint32
	TokenIsElevated    uint32
	// MandatoryLabel is the integrity-level SID's bytes (AppendSID renders it).
	MandatoryLabel []byte
	// ImageName is UTF-8: for start and rundown the NT path converted from
	// UTF-16 (unpaired surrogates become U+FFFD), for stop the kernel's
	// ANSI short name as it is (at most 15 bytes by the kernel, not
	// checked).
	ImageName     []byte
	ImageChecksum uint32
	TimeDateStamp uint32
	// PackageFullName and PackageRelativeAppID are UTF-16LE bytes without
	// the terminating NUL (not converted: the sensor does not use them).
	PackageFullName      []byte
	PackageRelativeAppID []byte
	SecurityMitigations  uint32
	PartitionID          uint16
	ProcessMachine       uint16

	HandleCount            uint32
	CommitCharge           uint64
	CommitPeak             uint64
	CPUCycleCount          uint64
	ReadOperationCount     uint32
	WriteOperationCount    uint32
	ReadTransferKiloBytes  uint32
	WriteTransferKiloBytes uint32
	HardFaultCount         uint32

	// ErrField and ErrOffset say, after an error, which field could not
	// be read and at which byte offset it started.
	ErrField  Field
	ErrOffset int
}

// maxUserData is the most UserData an event record carries
// (EVENT_RECORD.UserDataLength is a USHORT).
const maxUserData = 1<<16 - 1

// imageBufSize holds the UTF-8 form of any UTF-16 string that fits in
// maxUserData: at most 3 bytes per UTF-16 code unit.
const imageBufSize = maxUserData / 2 * 3

// Decoder decodes records into a caller-owned Record. Its buffer takes the
// UTF-8 image name, so a Decoder is used by one goroutine at a time (the
// ETW callback thread). The zero value is not ready: use NewDecoder.
type Decoder struct {
	buf []byte
}

// NewDecoder returns a Decoder with a buffer large enough for any record:
// Decode never allocates.
func NewDecoder() *Decoder { return &Decoder{buf: make([]byte, 0, imageBufSize)} }

// Decode decodes the UserData of one Kernel-Process event into *r (reset
// first): id and version are EVENT_DESCRIPTOR.Id and .Version, ptrSize the
// writer's pointer size (PointerSize). It returns nil, or an *Error
// (ErrTruncated, ErrMalformed, ErrUnknownEvent, ErrPointerSize) with
// r.ErrField / r.ErrOffset set. It never panics and never allocates.
func (d *Decoder) Decode(data []byte, id uint16, version uint8, ptrSize int, r *Record) error {
	// The hot path (every process start) first, without the cursor; it
	// hands everything else to decode. (This call is all Decode does, so
	// that it inlines into its caller.)
	return d.decodeV3Whole(data, id, version, ptrSize, r, true)
}

// errLeft is what decodeV3Whole returns, without fallback, for a record it
// leaves to decode (for tests).
var errLeft = &Error{"left to decode"}

// leave is decodeV3Whole's return for a record it does not take: decode's
// result with fallback, errLeft without.
func (d *Decoder) leave(fallback bool, data []byte, id uint16, version uint8, ptrSize int, r *Record) error {
	if fallback {
		return d.decode(data, id, version, ptrSize, r)
	}
	return errLeft
}

// decode is Decode field by field through the cursor.
func (d *Decoder) decode(data []byte, id uint16, version uint8, ptrSize int, r *Record) error {
	*r = Record{EventID: id, Version: version}
	if ptrSize != 4 && ptrSize != 8 {
		return ErrPointerSize
	}
	r.PointerSize = uint8(ptrSize)
	c := cursor{b: data, r: r}
	switch id {
	case EventProcessStart:
		r.Layout = min(version, MaxStartVersion)
		switch r.Layout {
		case 0, 1, 2:
			d.startV0(&c, r.Layout)
		default:
			d.startV3Fields(&c, r.Layout-3)
		}
	case EventProcessRundown:
		r.Layout = min(version, MaxRundownVersion)
		if r.Layout == 0 {
			d.startV0(&c, 2)
		} else {
			d.startV3Fields(&c, r.Layout-1)
		}
	case EventProcessStop:
		r.Layout = min(version, MaxStopVersion)
		stop(&c, r.Layout)
	default:
		return ErrUnknownEvent
	}
	r.Newer = r.Layout != version
	if c.err != nil {
		return c.err
	}
	r.Trailing = len(data) - c.off
	return nil
}

// startV0 reads ProcessStartArgs (ext 0), _V1 (ext 1, Flags) and _V2 (ext
// 2, image and package fields) — also ProcessRundownArgs, which is _V2.
func (d *Decoder) startV0(c *cursor, ext uint8) {
	r := c.r
	r.ProcessID = c.u32(FProcessID)
	r.CreateTime = c.u64(FCreateTime)
	r.ParentProcessID = c.u32(FParentProcessID)
	r.SessionID = c.u32(FSessionID)
	if ext >= 1 {
		r.Flags = c.u32(FFlags)
	}
	r.ImageName = c.utf16(FImageName, d.buf[:0])
	if ext >= 2 {
		r.ImageChecksum = c.u32(FImageChecksum)
		r.TimeDateStamp = c.u32(FTimeDateStamp)
		r.PackageFullName = c.utf16Raw(FPackageFullName)
		r.PackageRelativeAppID = c.utf16Raw(FPackageRelativeAppID)
	}
}

// v3Fixed is the size of ProcessRundownArgs_V1's fixed head (ProcessID to
// ProcessTokenIsElevated), v3FixedFields its fields and v3Fields all the
// fields of the layout.
const (
	v3Fixed       = 48
	v3FixedFields = FProcessID | FProcessSequenceNumber | FCreateTime | FParentProcessID |
		FParentProcessSequenceNumber | FSessionID | FFlags | FTokenElevationType | FTokenIsElevated
	v3Fields = v3FixedFields | FMandatoryLabel | FImageName | FImageChecksum | FTimeDateStamp |
		FPackageFullName | FPackageRelativeAppID
)

// decodeV3Whole is Decode for ProcessStart v3+ and ProcessRundown v1+
// (ProcessRundownArgs_V1, ProcessStartArgs_V4 and the assumed v5; any
// other event or version it leaves to decode) when the
// data holds the whole layout with a well-formed SID (every record Windows
// writes): one check for each part of variable size, and the record
// written once, without the cursor. It leaves to decode (startV3Fields
// reads field by field and says what is wrong), having changed nothing but
// the Decoder's buffer, records whose pointer size is wrong, with a part
// missing or malformed, or longer than any record; without fallback it
// returns errLeft for them instead.
func (d *Decoder) decodeV3Whole(b []byte, id uint16, version uint8, ptrSize int, r *Record, fallback bool) error {
	// ext: 0 ProcessRundownArgs_V1, 1 SecurityMitigations, 2 PartitionID
	// and ProcessMachine.
	var layout, ext uint8
	switch {
	case id == EventProcessStart && version >= 3:
		layout = min(version, MaxStartVersion)
		ext = layout - 3
	case id == EventProcessRundown && version >= 1:
		layout = min(version, MaxRundownVersion)
		ext = layout - 1
	default:
		return d.leave(fallback, b, id, version, ptrSize, r)
	}
	if ptrSize != 4 && ptrSize != 8 {
		return d.leave(fallback, b, id, version, ptrSize, r)
	}
	// len(b) <= maxUserData: every UTF-16 string in b fits the buffer.
	if len(b) < v3Fixed+8 || len(b) > maxUserData || cap(d.buf) < imageBufSize {
		return d.leave(fallback, b, id, version, ptrSize, r)
	}
	if b[v3Fixed] != 1 || b[v3Fixed+1] > 15 { // MandatoryLabel: revision, sub-authorities
		return d.leave(fallback, b, id, version, ptrSize, r)
	}
	img := v3Fixed + 8 + 4*int(b[v3Fixed+1]) // ImageName
	if img > len(b) {
		return d.leave(fallback, b, id, version, ptrSize, r)
	}
	buf, src := d.buf[:imageBufSize], b[img:]
	// utf16z, with its common case (all ASCII) here: one call less.
	n, stop := asciiPrefix(buf, src)
	used := 2*n + 2
	if stop != stopNUL {
		var ok bool
		if n, used, ok = utf16zFrom(buf, src, 2*n, n, stop == stopShort); !ok {
			return d.leave(fallback, b, id, version, ptrSize, r)
		}
	}
	// ImageChecksum, TimeDateStamp, PackageFullName, PackageRelativeAppId,
	// then 4*ext bytes: SecurityMitigations; PartitionID, ProcessMachine.
	t := b[img+used:]
	if len(t) < 12 {
		return d.leave(fallback, b, id, version, ptrSize, r)
	}
	le := binary.LittleEndian
	pfn, app := t[8:8:8], t[10:10:10] // both empty: the common case
	end := 12
	if le.Uint32(t[8:12]) != 0 {
		pfnLen := nulUnit(t[8:])
		if pfnLen < 0 {
			return d.leave(fallback, b, id, version, ptrSize, r)
		}
		appLen := nulUnit(t[10+pfnLen:])
		if appLen < 0 {
			return d.leave(fallback, b, id, version, ptrSize, r)
		}
		pfn, app = t[8:8+pfnLen:8+pfnLen], t[10+pfnLen:10+pfnLen+appLen:10+pfnLen+appLen]
		end += pfnLen + appLen
	}
	if len(t)-end < 4*int(ext) {
		return d.leave(fallback, b, id, version, ptrSize, r)
	}
	// Every field of r is written below, the ones the layout has not
	// with zero: cheaper than clearing r first (TestDecodeResetsRecord
	// checks that nothing is left from the previous record).
	r.EventID, r.Version, r.Layout, r.Newer, r.PointerSize = id, version, layout, layout != version, uint8(ptrSize)
	r.Trailing = len(t) - end - 4*int(ext)
	r.Has = v3Fields
	r.ExitTime, r.ExitCode, r.HandleCount, r.CommitCharge, r.CommitPeak = 0, 0, 0, 0, 0
	r.CPUCycleCount, r.ReadOperationCount, r.WriteOperationCount = 0, 0, 0
	r.ReadTransferKiloBytes, r.WriteTransferKiloBytes, r.HardFaultCount = 0, 0, 0
	r.SecurityMitigations, r.PartitionID, r.ProcessMachine = 0, 0, 0
	r.ErrField, r.ErrOffset = 0, 0
	p := b[:v3Fixed]
	r.ProcessID = le.Uint32(p[0:])
	r.ProcessSequenceNumber = le.Uint64(p[4:])
	r.CreateTime = le.Uint64(p[12:])
	r.ParentProcessID = le.Uint32(p[20:])
	r.ParentProcessSequenceNumber = le.Uint64(p[24:])
	r.SessionID = le.Uint32(p[32:])
	r.Flags = le.Uint32(p[36:])
	r.TokenElevationType = le.Uint32(p[40:])
	r.TokenIsElevated = le.Uint32(p[44:])
	r.MandatoryLabel = b[v3Fixed:img:img]
	r.ImageName = buf[:n:n]
	r.ImageChecksum = le.Uint32(t[0:])
	r.TimeDateStamp = le.Uint32(t[4:])
	r.PackageFullName = pfn
	r.PackageRelativeAppID = app
	if ext >= 1 {
		r.SecurityMitigations = le.Uint32(t[end:])
		r.Has |= FSecurityMitigations
		if ext >= 2 {
			r.PartitionID = le.Uint16(t[end+4:])
			r.ProcessMachine = le.Uint16(t[end+6:])
			r.Has |= FPartitionID | FProcessMachine
		}
	}
	return nil
}

// startV3Fields reads ProcessRundownArgs_V1 (ext 0; ProcessStart v3,
// rundown v1), ProcessStartArgs_V4 (ext 1, SecurityMitigations) and the
// assumed v5 (ext 2, PartitionID and ProcessMachine) field by field, for
// data that decodeV3Whole does not take: it stops at the first field that
// is missing or malformed.
func (d *Decoder) startV3Fields(c *cursor, ext uint8) {
	r := c.r
	r.ProcessID = c.u32(FProcessID)
	r.ProcessSequenceNumber = c.u64(FProcessSequenceNumber)
	r.CreateTime = c.u64(FCreateTime)
	r.ParentProcessID = c.u32(FParentProcessID)
	r.ParentProcessSequenceNumber = c.u64(FParentProcessSequenceNumber)
	r.SessionID = c.u32(FSessionID)
	r.Flags = c.u32(FFlags)
	r.TokenElevationType = c.u32(FTokenElevationType)
	r.TokenIsElevated = c.u32(FTokenIsElevated)
	r.MandatoryLabel = c.sid(FMandatoryLabel)
	r.ImageName = c.utf16(FImageName, d.buf[:0])
	r.ImageChecksum = c.u32(FImageChecksum)
	r.TimeDateStamp = c.u32(FTimeDateStamp)
	r.PackageFullName = c.utf16Raw(FPackageFullName)
	r.PackageRelativeAppID = c.utf16Raw(FPackageRelativeAppID)
	if ext >= 1 {
		r.SecurityMitigations = c.u32(FSecurityMitigations)
	}
	if ext >= 2 {
		r.PartitionID = c.u16(FPartitionID)
		r.ProcessMachine = c.u16(FProcessMachine)
	}
}

// stop reads ProcessStopArgs (v0), _V1 (I/O counters) and _V2 (sequence
// number).
func stop(c *cursor, v uint8) {
	r := c.r
	r.ProcessID = c.u32(FProcessID)
	if v >= 2 {
		r.ProcessSequenceNumber = c.u64(FProcessSequenceNumber)
	}
	r.CreateTime = c.u64(FCreateTime)
	r.ExitTime = c.u64(FExitTime)
	r.ExitCode = c.u32(FExitCode)
	r.TokenElevationType = c.u32(FTokenElevationType)
	r.HandleCount = c.u32(FHandleCount)
	r.CommitCharge = c.u64(FCommitCharge)
	r.CommitPeak = c.u64(FCommitPeak)
	if v >= 1 {
		r.CPUCycleCount = c.u64(FCPUCycleCount)
		r.ReadOperationCount = c.u32(FReadOperationCount)
		r.WriteOperationCount = c.u32(FWriteOperationCount)
		r.ReadTransferKiloBytes = c.u32(FReadTransferKiloBytes)
		r.WriteTransferKiloBytes = c.u32(FWriteTransferKiloBytes)
		r.HardFaultCount = c.u32(FHardFaultCount)
	}
	r.ImageName = c.ansi(FImageName)
}

// cursor reads fields in order. After the first failure every read returns
// the zero value, so a layout function needs no checks of its own.
type cursor struct {
	b   []byte
	off int
	err error
	r   *Record
}

// need reports whether n more bytes are there; otherwise it records the
// failure of field f.
func (c *cursor) need(f Field, n int) bool {
	if c.err != nil {
		return false
	}
	if n > len(c.b)-c.off {
		c.fail(f, ErrTruncated)
		return false
	}
	return true
}

func (c *cursor) fail(f Field, err error) {
	c.err = err
	c.r.ErrField = f
	c.r.ErrOffset = c.off
}

func (c *cursor) u16(f Field) uint16 {
	if !c.need(f, 2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(c.b[c.off:])
	c.off += 2
	c.r.Has |= f
	return v
}

func (c *cursor) u32(f Field) uint32 {
	if !c.need(f, 4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(c.b[c.off:])
	c.off += 4
	c.r.Has |= f
	return v
}

func (c *cursor) u64(f Field) uint64 {
	if !c.need(f, 8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(c.b[c.off:])
	c.off += 8
	c.r.Has |= f
	return v
}

// sid reads a SID: revision 1, sub-authority count n <= 15, 6-byte
// authority, n 4-byte sub-authorities.
func (c *cursor) sid(f Field) []byte {
	if !c.need(f, 8) {
		return nil
	}
	n := int(c.b[c.off+1])
	if c.b[c.off] != 1 || n > 15 {
		c.fail(f, ErrMalformed)
		return nil
	}
	size := 8 + 4*n
	if !c.need(f, size) {
		return nil
	}
	s := c.b[c.off : c.off+size : c.off+size]
	c.off += size
	c.r.Has |= f
	return s
}

// utf16Raw returns a NUL-terminated UTF-16LE string's bytes without the
// NUL.
func (c *cursor) utf16Raw(f Field) []byte {
	if c.err != nil {
		return nil
	}
	b := c.b[c.off:]
	i := nulUnit(b)
	if i < 0 {
		c.fail(f, ErrTruncated)
		return nil
	}
	c.off += i + 2
	c.r.Has |= f
	return b[:i:i]
}

// nulUnit returns the byte offset of the first NUL code unit of the
// UTF-16LE b, or -1 (a last odd byte is not a unit).
func nulUnit(b []byte) int {
	for i := 0; i+1 < len(b); i += 2 {
		if b[i]|b[i+1] == 0 {
			return i
		}
	}
	return -1
}

// utf16 converts a NUL-terminated UTF-16LE string to UTF-8 into buf, the
// Decoder's buffer (when the data is longer than any event record and buf
// could be too small, the result is appended to a new slice instead).
func (c *cursor) utf16(f Field, buf []byte) []byte {
	if c.err != nil {
		return nil
	}
	b := c.b[c.off:]
	if len(b)/2*3 > cap(buf) {
		return c.utf16Slow(f, nil)
	}
	n, used, ok := utf16z(buf[:cap(buf)], b)
	if !ok {
		c.fail(f, ErrTruncated)
		return nil
	}
	c.off += used
	c.r.Has |= f
	return buf[:n:n]
}

// utf16Slow is utf16 appending to dst, for data longer than any record.
func (c *cursor) utf16Slow(f Field, dst []byte) []byte {
	b := c.b[c.off:]
	for i := 0; i+1 < len(b); i += 2 {
		u := uint32(b[i]) | uint32(b[i+1])<<8
		if u == 0 {
			c.off += i + 2
			c.r.Has |= f
			return dst
		}
		if u < 0x80 {
			dst = append(dst, byte(u))
			continue
		}
		var r uint32
		r, i = utf16Rune(b, i, u)
		dst = appendRune(dst, r)
	}
	c.fail(f, ErrTruncated)
	return nil
}

// ansi returns a NUL-terminated 8-bit string's bytes without the NUL.
func (c *cursor) ansi(f Field) []byte {
	if c.err != nil {
		return nil
	}
	b := c.b[c.off:]
	for i := 0; i < len(b); i++ {
		if b[i] == 0 {
			c.off += i + 1
			c.r.Has |= f
			return b[:i:i]
		}
	}
	c.fail(f, ErrTruncated)
	return nil
}

// AppendSID appends the S-1-... form of a binary SID to dst. ok is false
// (and dst unchanged) when sid is not a well-formed SID of exactly its
// length.
func AppendSID(dst, sid []byte) ([]byte, bool) {
	if len(sid) < 8 || sid[0] != 1 || sid[1] > 15 || len(sid) != 8+4*int(sid[1]) {
		return dst, false
	}
	dst = append(dst, "S-1-"...)
	var auth uint64
	for _, b := range sid[2:8] {
		auth = auth<<8 | uint64(b)
	}
	if auth < 1<<32 {
		dst = appendUint(dst, auth)
	} else {
		// Windows renders a 48-bit authority in hexadecimal.
		dst = append(dst, "0x"...)
		for sh := 44; sh >= 0; sh -= 4 {
			dst = append(dst, "0123456789ABCDEF"[auth>>uint(sh)&0xf])
		}
	}
	for i := 8; i < len(sid); i += 4 {
		dst = append(dst, '-')
		dst = appendUint(dst, uint64(binary.LittleEndian.Uint32(sid[i:])))
	}
	return dst, true
}

// appendUint appends v in decimal.
func appendUint(dst []byte, v uint64) []byte {
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
	return append(dst, tmp[i:]...)
}
