package kernelproc

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

// The fixtures in testdata/ are made by TestFixturesUpToDate from the
// field lists below (an encoder written from the manifest templates,
// independent of the decoder): one .hex file per event version, one field a
// line, "hex bytes  # field = value". Regenerate them with
//
//	go test ./etw/kernelproc -run TestFixturesUpToDate -update
var update = flag.Bool("update", false, "rewrite testdata/*.hex from the fixture definitions")

type kind uint8

const (
	kU16 kind = iota
	kU32
	kU64
	kSID
	kUTF16
	kANSI
)

// fv is one field value of a fixture.
type fv struct {
	name string
	k    kind
	n    uint64
	s    string
}

func u16(name string, v uint64) fv { return fv{name, kU16, v, ""} }
func u32(name string, v uint64) fv { return fv{name, kU32, v, ""} }
func u64(name string, v uint64) fv { return fv{name, kU64, v, ""} }
func sid(name, s string) fv        { return fv{name, kSID, 0, s} }
func w(name, s string) fv          { return fv{name, kUTF16, 0, s} }
func a(name, s string) fv          { return fv{name, kANSI, 0, s} }

// Values shared by the fixtures.
const (
	ftCreate = 134180940946923341 // 2026-03-16T00:21:34.6923341Z
	ftExit   = 134180940953000000
	smssNT   = `\Device\HarddiskVolume4\Windows\System32\smss.exe`
)

func startV0Fields(flags bool) []fv {
	f := []fv{u32("ProcessID", 612), u64("CreateTime", ftCreate), u32("ParentProcessID", 4), u32("SessionID", 0)}
	if flags {
		f = append(f, u32("Flags", 0))
	}
	return append(f, w("ImageName", smssNT))
}

func startV2Fields(image string) []fv {
	return append(startV0Fields(true)[:5], w("ImageName", image), u32("ImageChecksum", 0x2a1c1), u32("TimeDateStamp", 0x5b3c1a2e),
		w("PackageFullName", ""), w("PackageRelativeAppId", ""))
}

// startV3Fields is ProcessRundownArgs_V1, with the values of a published
// TDH rendering of a real ProcessStart v3 (logman.exe started elevated).
func startV3Fields() []fv {
	return []fv{u32("ProcessID", 12824), u64("ProcessSequenceNumber", 11445), u64("CreateTime", ftCreate),
		u32("ParentProcessID", 10736), u64("ParentProcessSequenceNumber", 11430), u32("SessionID", 1), u32("Flags", 0),
		u32("ProcessTokenElevationType", 1), u32("ProcessTokenIsElevated", 1), sid("MandatoryLabel", "S-1-16-12288"),
		w("ImageName", `\Device\HarddiskVolume4\Windows\System32\logman.exe`), u32("ImageChecksum", 0x23d2d),
		u32("TimeDateStamp", 0x4e0c0a88), w("PackageFullName", ""), w("PackageRelativeAppId", "")}
}

func startV4Fields() []fv { return append(startV3Fields(), u32("SecurityMitigations", 0x3)) }

func startV5Fields() []fv {
	return append(startV4Fields(), u16("PartitionID", 0), u16("ProcessMachine", 0x8664))
}

func stopFields(v int) []fv {
	f := []fv{u32("ProcessID", 392)}
	if v >= 2 {
		f = append(f, u64("ProcessSequenceNumber", 77))
	}
	f = append(f, u64("CreateTime", ftCreate), u64("ExitTime", ftExit), u32("ExitCode", 0xc0000005),
		u32("TokenElevationType", 1), u32("HandleCount", 17), u64("CommitCharge", 1<<20), u64("CommitPeak", 3<<20))
	if v >= 1 {
		f = append(f, u64("CPUCycleCount", 123456789), u32("ReadOperationCount", 5), u32("WriteOperationCount", 6),
			u32("ReadTransferKiloBytes", 7), u32("WriteTransferKiloBytes", 8), u32("HardFaultCount", 9))
	}
	return append(f, a("ImageName", "smss.exe"))
}

type fixture struct {
	file    string
	id      uint16
	version uint8
	fields  []fv
	has     Field // the fields the version carries, written out by hand
}

const (
	hasStart0 = FProcessID | FCreateTime | FParentProcessID | FSessionID | FImageName
	hasStart1 = hasStart0 | FFlags
	hasStart2 = hasStart1 | FImageChecksum | FTimeDateStamp | FPackageFullName | FPackageRelativeAppID
	hasStart3 = hasStart2 | FProcessSequenceNumber | FParentProcessSequenceNumber | FTokenElevationType |
		FTokenIsElevated | FMandatoryLabel
	hasStart4 = hasStart3 | FSecurityMitigations
	hasStart5 = hasStart4 | FPartitionID | FProcessMachine
	hasStop0  = FProcessID | FCreateTime | FExitTime | FExitCode | FTokenElevationType | FHandleCount |
		FCommitCharge | FCommitPeak | FImageName
	hasStop1 = hasStop0 | FCPUCycleCount | FReadOperationCount | FWriteOperationCount | FReadTransferKiloBytes |
		FWriteTransferKiloBytes | FHardFaultCount
	hasStop2 = hasStop1 | FProcessSequenceNumber
)

var fixtures = []fixture{
	{"start_v0.hex", 1, 0, startV0Fields(false), hasStart0},
	{"start_v1.hex", 1, 1, startV0Fields(true), hasStart1},
	{"start_v2.hex", 1, 2, startV2Fields(`\Device\HarddiskVolume4\Windows\System32\csrss.exe`), hasStart2},
	{"start_v3.hex", 1, 3, startV3Fields(), hasStart3},
	{"start_v4.hex", 1, 4, startV4Fields(), hasStart4},
	{"start_v5.hex", 1, 5, startV5Fields(), hasStart5},
	{"stop_v0.hex", 2, 0, stopFields(0), hasStop0},
	{"stop_v1.hex", 2, 1, stopFields(1), hasStop1},
	{"stop_v2.hex", 2, 2, stopFields(2), hasStop2},
	// Rundown v0 has a non-ASCII image (a user folder named in Cyrillic
	// and a file name outside the BMP) to exercise the UTF-16 conversion.
	{"rundown_v0.hex", 15, 0, startV2Fields(`\Device\HarddiskVolume2\Users\Пётр\😀smss.exe`), hasStart2},
	{"rundown_v1.hex", 15, 1, startV3Fields(), hasStart3},
	{"rundown_v2.hex", 15, 2, startV4Fields(), hasStart4},
	{"rundown_v3.hex", 15, 3, startV5Fields(), hasStart5},
}

// encodeSID is the test's own S-1-... parser.
func encodeSID(t testing.TB, s string) []byte {
	var rev, auth uint64
	parts := strings.Split(s, "-")
	if len(parts) < 3 || parts[0] != "S" {
		t.Fatalf("bad SID %q", s)
	}
	fmt.Sscan(parts[1], &rev)
	fmt.Sscan(parts[2], &auth)
	b := []byte{byte(rev), byte(len(parts) - 3), byte(auth >> 40), byte(auth >> 32), byte(auth >> 24), byte(auth >> 16), byte(auth >> 8), byte(auth)}
	for _, p := range parts[3:] {
		var v uint32
		fmt.Sscan(p, &v)
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// encodeField returns one field's bytes.
func encodeField(t testing.TB, f fv) []byte {
	le := binary.LittleEndian
	switch f.k {
	case kU16:
		return le.AppendUint16(nil, uint16(f.n))
	case kU32:
		return le.AppendUint32(nil, uint32(f.n))
	case kU64:
		return le.AppendUint64(nil, f.n)
	case kSID:
		return encodeSID(t, f.s)
	case kUTF16:
		var b []byte
		for _, u := range utf16.Encode([]rune(f.s)) {
			b = le.AppendUint16(b, u)
		}
		return append(b, 0, 0)
	case kANSI:
		return append([]byte(f.s), 0)
	}
	t.Fatalf("kind %d", f.k)
	return nil
}

// fixtureText renders a fixture as its .hex file.
func fixtureText(t testing.TB, fx fixture) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Microsoft-Windows-Kernel-Process event %d version %d: UserData, one field a line.\n", fx.id, fx.version)
	sb.WriteString("# Generated by TestFixturesUpToDate (go test ./etw/kernelproc -run TestFixturesUpToDate -update).\n")
	for _, f := range fx.fields {
		v := fmt.Sprintf("%q", f.s)
		if f.k <= kU64 {
			v = fmt.Sprintf("%d (0x%x)", f.n, f.n)
		}
		fmt.Fprintf(&sb, "%s  # %s = %s\n", hex.EncodeToString(encodeField(t, f)), f.name, v)
	}
	return sb.String()
}

// readHex reads a .hex fixture: hex digits, whitespace and # comments.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func TestFixturesUpToDate(t *testing.T) {
	for _, fx := range fixtures {
		want := fixtureText(t, fx)
		path := filepath.Join("testdata", fx.file)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale: run go test ./etw/kernelproc -run TestFixturesUpToDate -update", path)
		}
	}
}

// expected builds the Record a fixture must decode to, field by field.
func expected(t *testing.T, fx fixture, data []byte) Record {
	r := Record{EventID: fx.id, Version: fx.version, Layout: fx.version, PointerSize: 8}
	for _, f := range fx.fields {
		enc := encodeField(t, f)
		switch f.name {
		case "ProcessID":
			r.ProcessID, r.Has = uint32(f.n), r.Has|FProcessID
		case "ProcessSequenceNumber":
			r.ProcessSequenceNumber, r.Has = f.n, r.Has|FProcessSequenceNumber
		case "CreateTime":
			r.CreateTime, r.Has = f.n, r.Has|FCreateTime
		case "ExitTime":
			r.ExitTime, r.Has = f.n, r.Has|FExitTime
		case "ParentProcessID":
			r.ParentProcessID, r.Has = uint32(f.n), r.Has|FParentProcessID
		case "ParentProcessSequenceNumber":
			r.ParentProcessSequenceNumber, r.Has = f.n, r.Has|FParentProcessSequenceNumber
		case "SessionID":
			r.SessionID, r.Has = uint32(f.n), r.Has|FSessionID
		case "Flags":
			r.Flags, r.Has = uint32(f.n), r.Has|FFlags
		case "ExitCode":
			r.ExitCode, r.Has = uint32(f.n), r.Has|FExitCode
		case "ProcessTokenElevationType", "TokenElevationType":
			r.TokenElevationType, r.Has = uint32(f.n), r.Has|FTokenElevationType
		case "ProcessTokenIsElevated":
			r.TokenIsElevated, r.Has = uint32(f.n), r.Has|FTokenIsElevated
		case "MandatoryLabel":
			r.MandatoryLabel, r.Has = enc, r.Has|FMandatoryLabel
		case "ImageName":
			r.ImageName, r.Has = []byte(f.s), r.Has|FImageName
		case "ImageChecksum":
			r.ImageChecksum, r.Has = uint32(f.n), r.Has|FImageChecksum
		case "TimeDateStamp":
			r.TimeDateStamp, r.Has = uint32(f.n), r.Has|FTimeDateStamp
		case "PackageFullName":
			r.PackageFullName, r.Has = enc[:len(enc)-2], r.Has|FPackageFullName
		case "PackageRelativeAppId":
			r.PackageRelativeAppID, r.Has = enc[:len(enc)-2], r.Has|FPackageRelativeAppID
		case "SecurityMitigations":
			r.SecurityMitigations, r.Has = uint32(f.n), r.Has|FSecurityMitigations
		case "PartitionID":
			r.PartitionID, r.Has = uint16(f.n), r.Has|FPartitionID
		case "ProcessMachine":
			r.ProcessMachine, r.Has = uint16(f.n), r.Has|FProcessMachine
		case "HandleCount":
			r.HandleCount, r.Has = uint32(f.n), r.Has|FHandleCount
		case "CommitCharge":
			r.CommitCharge, r.Has = f.n, r.Has|FCommitCharge
		case "CommitPeak":
			r.CommitPeak, r.Has = f.n, r.Has|FCommitPeak
		case "CPUCycleCount":
			r.CPUCycleCount, r.Has = f.n, r.Has|FCPUCycleCount
		case "ReadOperationCount":
			r.ReadOperationCount, r.Has = uint32(f.n), r.Has|FReadOperationCount
		case "WriteOperationCount":
			r.WriteOperationCount, r.Has = uint32(f.n), r.Has|FWriteOperationCount
		case "ReadTransferKiloBytes":
			r.ReadTransferKiloBytes, r.Has = uint32(f.n), r.Has|FReadTransferKiloBytes
		case "WriteTransferKiloBytes":
			r.WriteTransferKiloBytes, r.Has = uint32(f.n), r.Has|FWriteTransferKiloBytes
		case "HardFaultCount":
			r.HardFaultCount, r.Has = uint32(f.n), r.Has|FHardFaultCount
		default:
			t.Fatalf("fixture field %q has no Record field", f.name)
		}
	}
	return r
}

// normalise makes empty byte slices nil so that DeepEqual compares
// contents only.
func normalise(r Record) Record {
	for _, p := range []*[]byte{&r.MandatoryLabel, &r.ImageName, &r.PackageFullName, &r.PackageRelativeAppID} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return r
}

func TestDecodeFixtures(t *testing.T) {
	seen := map[[2]int]bool{}
	d := NewDecoder()
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			data := readHex(t, fx.file)
			seen[[2]int{int(fx.id), int(fx.version)}] = true
			var r Record
			if err := d.Decode(data, fx.id, fx.version, 8, &r); err != nil {
				t.Fatalf("Decode: %v (field %b at %d)", err, r.ErrField, r.ErrOffset)
			}
			if r.Has != fx.has {
				t.Errorf("Has = %b, want %b (missing %b, extra %b)", r.Has, fx.has, fx.has&^r.Has, r.Has&^fx.has)
			}
			want := expected(t, fx, data)
			if got := normalise(r); !reflect.DeepEqual(got, normalise(want)) {
				t.Errorf("decoded\n got  %+v\n want %+v", got, normalise(want))
			}
			if r.Newer || r.Trailing != 0 {
				t.Errorf("Newer %v Trailing %d for an exact known layout", r.Newer, r.Trailing)
			}
		})
	}
	// Every known version of every event has a fixture.
	for _, ev := range []struct {
		id  uint16
		max uint8
	}{{EventProcessStart, MaxStartVersion}, {EventProcessStop, MaxStopVersion}, {EventProcessRundown, MaxRundownVersion}} {
		for v := 0; v <= int(ev.max); v++ {
			if !seen[[2]int{int(ev.id), v}] {
				t.Errorf("no fixture for event %d version %d", ev.id, v)
			}
		}
	}
}

// TestDecodePointerSizes: no field of these templates is pointer-sized, so
// a 32-bit writer's record decodes the same; anything but 4 and 8 fails.
func TestDecodePointerSizes(t *testing.T) {
	d := NewDecoder()
	data := readHex(t, "start_v4.hex")
	var r8, r4 Record
	if err := d.Decode(data, 1, 4, 8, &r8); err != nil {
		t.Fatal(err)
	}
	img8 := string(r8.ImageName)
	if err := d.Decode(data, 1, 4, 4, &r4); err != nil {
		t.Fatal(err)
	}
	if r4.PointerSize != 4 || string(r4.ImageName) != img8 || r4.ProcessID != r8.ProcessID || r4.Has != r8.Has {
		t.Errorf("32-bit decode differs: %+v", r4)
	}
	for _, p := range []int{0, 2, 16, -8} {
		if err := d.Decode(data, 1, 4, p, &r4); !errors.Is(err, ErrPointerSize) {
			t.Errorf("pointer size %d: %v", p, err)
		}
	}
	for _, c := range []struct {
		flags  uint16
		native int
		want   int
	}{{0x40, 4, 8}, {0x20, 8, 4}, {0x60, 4, 8}, {0, 8, 8}, {0x0200, 4, 4}} {
		if got := PointerSize(c.flags, c.native); got != c.want {
			t.Errorf("PointerSize(%#x, %d) = %d, want %d", c.flags, c.native, got, c.want)
		}
	}
}

// TestDecodeTruncatedEveryOffset cuts every fixture at every byte offset:
// always ErrTruncated, never a panic, and the reported field offset lies
// within the data.
func TestDecodeTruncatedEveryOffset(t *testing.T) {
	d := NewDecoder()
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			data := readHex(t, fx.file)
			for n := 0; n < len(data); n++ {
				cut := bytes.Clone(data[:n]) // its own backing array: nothing past n to read
				var r Record
				err := d.Decode(cut, fx.id, fx.version, 8, &r)
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut at %d of %d: err = %v, want ErrTruncated", n, len(data), err)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("cut at %d: error %T is not *Error", n, err)
				}
				if r.ErrField == 0 || r.ErrOffset > n || r.Has&r.ErrField != 0 {
					t.Fatalf("cut at %d: ErrField %b ErrOffset %d Has %b", n, r.ErrField, r.ErrOffset, r.Has)
				}
			}
		})
	}
}

func TestDecodeNewerAndTrailing(t *testing.T) {
	d := NewDecoder()
	extra := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, c := range []struct {
		file    string
		id      uint16
		version uint8
		layout  uint8
	}{
		{"start_v5.hex", 1, 6, 5},
		{"start_v5.hex", 1, 255, 5},
		{"stop_v2.hex", 2, 3, 2},
		{"rundown_v3.hex", 15, 4, 3},
	} {
		t.Run(fmt.Sprintf("%d_v%d", c.id, c.version), func(t *testing.T) {
			base := readHex(t, c.file)
			var known Record
			if err := d.Decode(base, c.id, c.layout, 8, &known); err != nil {
				t.Fatal(err)
			}
			knownImage := string(known.ImageName)
			var r Record
			if err := d.Decode(append(bytes.Clone(base), extra...), c.id, c.version, 8, &r); err != nil {
				t.Fatal(err)
			}
			if !r.Newer || r.Layout != c.layout || r.Version != c.version || r.Trailing != len(extra) {
				t.Errorf("Newer %v Layout %d Version %d Trailing %d", r.Newer, r.Layout, r.Version, r.Trailing)
			}
			if r.ProcessID != known.ProcessID || string(r.ImageName) != knownImage || r.Has != known.Has {
				t.Errorf("prefix differs: %+v", r)
			}
		})
	}
	// A known version with bytes after its layout decodes, and says so.
	var r Record
	if err := d.Decode(append(readHex(t, "start_v3.hex"), 0, 0, 0, 0), 1, 3, 8, &r); err != nil {
		t.Fatal(err)
	}
	if r.Newer || r.Trailing != 4 {
		t.Errorf("Newer %v Trailing %d", r.Newer, r.Trailing)
	}
}

func TestDecodeErrors(t *testing.T) {
	d := NewDecoder()
	var r Record
	for _, id := range []uint16{0, 3, 14, 16, 0xffff} {
		if err := d.Decode(readHex(t, "start_v0.hex"), id, 0, 8, &r); !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("event %d: %v", id, err)
		}
	}
	v3 := readHex(t, "start_v3.hex")
	const labelAt = 4 + 8 + 8 + 4 + 8 + 4 + 4 + 4 + 4
	for _, c := range []struct {
		name string
		at   int
		b    byte
	}{{"revision 2", labelAt, 2}, {"16 sub-authorities", labelAt + 1, 16}} {
		bad := bytes.Clone(v3)
		bad[c.at] = c.b
		err := d.Decode(bad, 1, 3, 8, &r)
		if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrTruncated) || r.ErrField != FMandatoryLabel || r.ErrOffset != labelAt {
			t.Errorf("%s: err %v field %b offset %d", c.name, err, r.ErrField, r.ErrOffset)
		}
	}
	// Error messages name the package's data.
	if !strings.HasPrefix(ErrTruncated.Error(), "kernel-process event data: ") {
		t.Errorf("message %q", ErrTruncated.Error())
	}
}

func TestUTF16Conversion(t *testing.T) {
	d := NewDecoder()
	for _, c := range []struct {
		name  string
		units []uint16
		want  string
	}{
		{"ascii", []uint16{'a', 'b'}, "ab"},
		{"empty", nil, ""},
		{"latin and cyrillic", []uint16{0xe9, 0x416}, "éЖ"},
		{"three-byte", []uint16{0x20ac, 0xfffe}, "€\ufffe"},
		{"pair", []uint16{0xd83d, 0xde00}, "😀"},
		{"lone high", []uint16{0xd83d, 'x'}, "\ufffdx"},
		{"lone high at end", []uint16{'x', 0xd83d}, "x\ufffd"},
		{"lone low", []uint16{0xde00, 'x'}, "\ufffdx"},
		{"two highs", []uint16{0xd83d, 0xd83d, 0xde00}, "\ufffd😀"},
	} {
		data := binary.LittleEndian.AppendUint32(nil, 1) // ProcessID
		data = binary.LittleEndian.AppendUint64(data, 1) // CreateTime
		data = binary.LittleEndian.AppendUint32(data, 4) // ParentProcessID
		data = binary.LittleEndian.AppendUint32(data, 0) // SessionID
		for _, u := range c.units {
			data = binary.LittleEndian.AppendUint16(data, u)
		}
		data = append(data, 0, 0)
		var r Record
		if err := d.Decode(data, 1, 0, 8, &r); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(r.ImageName) != c.want {
			t.Errorf("%s: %q, want %q", c.name, r.ImageName, c.want)
		}
		if got := string(utf16.Decode(c.units)); got != c.want {
			t.Errorf("%s: the standard library says %q", c.name, got)
		}
	}
}

// TestUTF16ConversionBlocks puts one unit that is not plain ASCII (or a
// boundary of it) at every position of strings around the eight-unit
// blocks of the fast path, and compares with unicode/utf16.
func TestUTF16ConversionBlocks(t *testing.T) {
	d := NewDecoder()
	for _, odd := range []uint16{0x01, 0x7f, 0x80, 0xe9, 0x100, 0x17f, 0x416, 0x7f00, 0xd83d, 0xde00} {
		t.Run(fmt.Sprintf("%#x", odd), func(t *testing.T) {
			for n := 1; n <= 40; n++ {
				for p := 0; p < n; p++ {
					units := make([]uint16, n)
					for i := range units {
						units[i] = uint16('A' + i%26)
					}
					units[p] = odd
					data := binary.LittleEndian.AppendUint32(nil, 1) // ProcessID
					data = binary.LittleEndian.AppendUint64(data, 1) // CreateTime
					data = binary.LittleEndian.AppendUint32(data, 4) // ParentProcessID
					data = binary.LittleEndian.AppendUint32(data, 0) // SessionID
					for _, u := range units {
						data = binary.LittleEndian.AppendUint16(data, u)
					}
					data = append(data, 0, 0)
					var r Record
					if err := d.Decode(data, 1, 0, 8, &r); err != nil {
						t.Fatalf("n=%d p=%d: %v", n, p, err)
					}
					if want := string(utf16.Decode(units)); string(r.ImageName) != want || r.Trailing != 0 {
						t.Fatalf("n=%d p=%d: %q (%d trailing), want %q", n, p, r.ImageName, r.Trailing, want)
					}
				}
			}
		})
	}
	t.Run("NUL inside a block", func(t *testing.T) {
		for p := 0; p < 24; p++ {
			units := make([]uint16, 24)
			for i := range units {
				units[i] = 'a'
			}
			units[p] = 0
			data := make([]byte, 20)
			for _, u := range units {
				data = binary.LittleEndian.AppendUint16(data, u)
			}
			var r Record
			if err := d.Decode(data, 1, 0, 8, &r); err != nil {
				t.Fatalf("p=%d: %v", p, err)
			}
			if string(r.ImageName) != strings.Repeat("a", p) || r.Trailing != 2*(23-p) {
				t.Fatalf("p=%d: %q, %d trailing", p, r.ImageName, r.Trailing)
			}
		}
	})
}

func TestAppendSID(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
		ok   bool
	}{
		{[]byte{1, 1, 0, 0, 0, 0, 0, 16, 0, 0x30, 0, 0}, "S-1-16-12288", true},
		{[]byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "S-1-5-18", true},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0}, "S-1-0", true},
		{[]byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0}, "S-1-5-32-544", true},
		{[]byte{1, 1, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff}, "S-1-5-4294967295", true},
		{[]byte{1, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}, "S-1-0x123456789ABC", true},
		{[]byte{2, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "", false},
		{[]byte{1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "", false},
		{[]byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0, 0}, "", false},
		{[]byte{1}, "", false},
		{nil, "", false},
	} {
		got, ok := AppendSID([]byte("x"), c.in)
		if ok != c.ok || (ok && string(got) != "x"+c.want) || (!ok && string(got) != "x") {
			t.Errorf("AppendSID(% x) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := NewDecoder()
	var r Record
	for _, fx := range fixtures {
		data := readHex(t, fx.file)
		if n := testing.AllocsPerRun(200, func() { _ = d.Decode(data, fx.id, fx.version, 8, &r) }); n != 0 {
			t.Errorf("%s: %.1f allocations a decode", fx.file, n)
		}
		if n := testing.AllocsPerRun(50, func() { _ = d.Decode(data[:len(data)/2], fx.id, fx.version, 8, &r) }); n != 0 {
			t.Errorf("%s truncated: %.1f allocations a decode", fx.file, n)
		}
	}
	sidBuf := make([]byte, 0, 256)
	label := encodeSID(t, "S-1-16-12288")
	if n := testing.AllocsPerRun(200, func() { sidBuf, _ = AppendSID(sidBuf[:0], label) }); n != 0 {
		t.Errorf("AppendSID: %.1f allocations", n)
	}
}

// BenchmarkDecodeProcessStart decodes a typical ProcessStart (v4, a
// 51-character System32 path).
func BenchmarkDecodeProcessStart(b *testing.B) {
	data := readHex(b, "start_v4.hex")
	d := NewDecoder()
	var r Record
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(data, 1, 4, 8, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecode: no input panics; errors are *Error; a successful decode is
// stable (the data without its trailing bytes decodes to the same record
// with none) and never claims bytes it did not have.
func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures {
		f.Add(fx.id, fx.version, uint8(8), readHex(f, fx.file))
	}
	f.Add(uint16(1), uint8(9), uint8(4), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, id uint16, version, ptr uint8, data []byte) {
		d := NewDecoder()
		var r Record
		err := d.Decode(data, id, version, int(ptr), &r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if r.Trailing < 0 || r.Trailing > len(data) || r.Has&FProcessID == 0 || r.Has&FImageName == 0 {
			t.Fatalf("record %+v from %d bytes", r, len(data))
		}
		first := normalise(r)
		first.ImageName = bytes.Clone(first.ImageName)
		var again Record
		if err := d.Decode(data[:len(data)-r.Trailing], id, version, int(ptr), &again); err != nil {
			t.Fatalf("exact prefix fails: %v", err)
		}
		first.Trailing = 0
		if got := normalise(again); !reflect.DeepEqual(got, first) {
			t.Fatalf("prefix decodes differently:\n%+v\n%+v", got, first)
		}
	})
}
