package kernelproc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"unicode/utf16"
)

// refUTF16z is the straightforward conversion utf16z must match: the code
// units up to the first NUL, decoded by unicode/utf16 (an unpaired
// surrogate becomes U+FFFD) and encoded as UTF-8 by the string conversion.
func refUTF16z(src []byte) (s string, used int, ok bool) {
	var units []uint16
	for i := 0; i+1 < len(src); i += 2 {
		u := uint16(src[i]) | uint16(src[i+1])<<8
		if u == 0 {
			return string(utf16.Decode(units)), i + 2, true
		}
		units = append(units, u)
	}
	return "", 0, false
}

// le16 returns the UTF-16LE bytes of units.
func le16(units ...uint16) []byte {
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// asciiImpls are the implementations of asciiPrefix to hold to the same
// contract: the one the build uses (SSE2 assembly on amd64) and the
// portable one.
var asciiImpls = []struct {
	name string
	f    func(dst, src []byte) (int, uint8)
}{{"asciiPrefix", asciiPrefix}, {"asciiPrefixSWAR", asciiPrefixSWAR}}

// checkASCIIPrefix checks one result of an asciiPrefix implementation
// against the contract, from src alone.
func checkASCIIPrefix(t *testing.T, dst, src []byte, k int, stop uint8) {
	t.Helper()
	units := len(src) / 2
	if k < 0 || k > units || k > len(dst) {
		t.Fatalf("k = %d for %d units, %d bytes of dst", k, units, len(dst))
	}
	for i := 0; i < k; i++ {
		u := binary.LittleEndian.Uint16(src[2*i:])
		if u == 0 || u >= 0x80 {
			t.Fatalf("unit %d (%#x) converted as ASCII", i, u)
		}
		if dst[i] != byte(u) {
			t.Fatalf("dst[%d] = %#x, want %#x", i, dst[i], u)
		}
	}
	switch stop {
	case stopShort:
		if left := min(units, len(dst)) - k; left >= 8 {
			t.Fatalf("stopShort with %d units left", left)
		}
	case stopUnit, stopNUL:
		if k >= units {
			t.Fatalf("stop %d past the end (k = %d of %d units)", stop, k, units)
		}
		u := binary.LittleEndian.Uint16(src[2*k:])
		if (u == 0) != (stop == stopNUL) || (u != 0 && u < 0x80) {
			t.Fatalf("stop %d at unit %#x", stop, u)
		}
	default:
		t.Fatalf("stop = %d", stop)
	}
}

// TestASCIIPrefixCases is the per-case test of the ASCII fast path: where
// each kind of unit stops a run, and what the end of src or dst does.
func TestASCIIPrefixCases(t *testing.T) {
	rep := func(n int, u uint16) []uint16 {
		s := make([]uint16, n)
		for i := range s {
			s[i] = u
		}
		return s
	}
	cat := func(parts ...[]uint16) []uint16 {
		var s []uint16
		for _, p := range parts {
			s = append(s, p...)
		}
		return s
	}
	for _, c := range []struct {
		name   string
		units  []uint16
		odd    bool // one more byte after the units
		dstLen int  // 0: len(units)
		k      int
		stop   uint8
	}{
		{"empty", nil, false, 0, 0, stopShort},
		{"7 units, too few for a block", rep(7, 'a'), false, 0, 0, stopShort},
		{"NUL first", cat([]uint16{0}, rep(15, 'a')), false, 0, 0, stopNUL},
		{"NUL at 3", cat(rep(3, 'a'), []uint16{0}, rep(12, 'a')), false, 0, 3, stopNUL},
		{"NUL at 7 of a block of 8", cat(rep(7, 'a'), []uint16{0}), false, 0, 7, stopNUL},
		{"NUL at 15", cat(rep(15, 'a'), []uint16{0}), false, 0, 15, stopNUL},
		{"NUL at 16", cat(rep(16, 'a'), []uint16{0}, rep(7, 'a')), false, 0, 16, stopNUL},
		{"NUL at 40", cat(rep(40, 'a'), []uint16{0}, rep(9, 'a')), false, 0, 40, stopNUL},
		{"0x01 and 0x7f are ASCII", cat(rep(8, 1), rep(8, 0x7f)), false, 0, 16, stopShort},
		{"0x80", cat(rep(5, 'a'), []uint16{0x80}, rep(10, 'a')), false, 0, 5, stopUnit},
		{"0xff", cat(rep(9, 'a'), []uint16{0xff}, rep(6, 'a')), false, 0, 9, stopUnit},
		{"0x100 (low byte 0)", cat(rep(2, 'a'), []uint16{0x100}, rep(13, 'a')), false, 0, 2, stopUnit},
		{"0x141 (low byte ASCII)", cat(rep(4, 'a'), []uint16{0x141}, rep(11, 'a')), false, 0, 4, stopUnit},
		{"0x7fff", cat(rep(12, 'a'), []uint16{0x7fff}, rep(3, 'a')), false, 0, 12, stopUnit},
		{"0x8000", cat(rep(6, 'a'), []uint16{0x8000}, rep(9, 'a')), false, 0, 6, stopUnit},
		{"0x8041", cat(rep(1, 'a'), []uint16{0x8041}, rep(14, 'a')), false, 0, 1, stopUnit},
		{"high surrogate", cat(rep(10, 'a'), []uint16{0xd83d, 0xde00}, rep(4, 'a')), false, 0, 10, stopUnit},
		{"lone low surrogate", cat(rep(3, 'a'), []uint16{0xdc00}, rep(12, 'a')), false, 0, 3, stopUnit},
		{"0xffff", cat(rep(14, 'a'), []uint16{0xffff}, rep(1, 'a')), false, 0, 14, stopUnit},
		{"0xff00", cat(rep(0, 'a'), []uint16{0xff00}, rep(15, 'a')), false, 0, 0, stopUnit},
		{"non-ASCII before NUL in a block", cat(rep(2, 'a'), []uint16{0xe9, 0}, rep(12, 'a')), false, 0, 2, stopUnit},
		{"NUL before non-ASCII in a block", cat(rep(2, 'a'), []uint16{0, 0xe9}, rep(12, 'a')), false, 0, 2, stopNUL},
		{"odd length", rep(16, 'a'), true, 0, 16, stopShort},
		{"24 units, short after the 16-block", rep(24, 'b'), false, 0, 24, stopShort},
		{"31 units", rep(31, 'b'), false, 0, 24, stopShort},
		{"dst shorter than src", rep(32, 'c'), false, 12, 8, stopShort},
		{"dst of 7", rep(32, 'c'), false, 7, 0, stopShort},
		{"stop beyond a short dst is not seen", cat(rep(20, 'c'), []uint16{0}), false, 16, 16, stopShort},
	} {
		src := le16(c.units...)
		if c.odd {
			src = append(src, 'z')
		}
		n := c.dstLen
		if n == 0 {
			n = len(c.units)
		}
		for _, impl := range asciiImpls {
			t.Run(impl.name+"/"+c.name, func(t *testing.T) {
				dst := bytes.Repeat([]byte{0xaa}, n)
				k, stop := impl.f(dst, src)
				if k != c.k || stop != c.stop {
					t.Fatalf("k %d stop %d, want k %d stop %d", k, stop, c.k, c.stop)
				}
				checkASCIIPrefix(t, dst, src, k, stop)
			})
		}
	}
}

// utf16Case builds the code units of one generated test string.
func utf16Case(rng *rand.Rand) []uint16 {
	pick := []uint16{'a', 'Z', '\\', '.', 0x01, 0x7f, 0x80, 0xe9, 0xff, 0x100, 0x416, 0x7ff, 0x800, 0x20ac,
		0x7fff, 0x8000, 0xd7ff, 0xd800, 0xd83d, 0xdbff, 0xdc00, 0xde00, 0xdfff, 0xe000, 0xfffd, 0xffff, 0}
	n := rng.IntN(80)
	s := make([]uint16, n)
	mostlyASCII := rng.IntN(3) != 0
	for i := range s {
		switch {
		case mostlyASCII && rng.IntN(16) != 0:
			s[i] = uint16('A' + rng.IntN(26))
		case rng.IntN(4) == 0:
			s[i] = uint16(rng.Uint32())
		default:
			s[i] = pick[rng.IntN(len(pick))]
		}
	}
	return s
}

// checkUTF16z compares utf16z on src with the reference. src is the
// start of a larger backing array whose next bytes hold an ASCII unit and
// a NUL: a conversion that read past len(src) would find that NUL.
func checkUTF16z(t *testing.T, src []byte) {
	t.Helper()
	backing := append(append(make([]byte, 0, len(src)+4), src...), 'x', 0, 0, 0)
	src = backing[:len(src)]
	want, wantUsed, wantOK := refUTF16z(src)
	for _, size := range []int{len(src) / 2 * 3, len(src)/2*3 + 64} {
		dst := bytes.Repeat([]byte{0xaa}, size)
		n, used, ok := utf16z(dst, src)
		if ok != wantOK || (ok && (string(dst[:n]) != want || used != wantUsed)) {
			t.Fatalf("utf16z(% x) with %d bytes of dst = %q, %d, %v; want %q, %d, %v",
				src, size, dst[:n], used, ok, want, wantUsed, wantOK)
		}
	}
	for _, impl := range asciiImpls {
		for _, size := range []int{len(src) / 2, len(src)/2*3 + 8, len(src) / 4} {
			dst := bytes.Repeat([]byte{0x55}, size)
			k, stop := impl.f(dst, src)
			checkASCIIPrefix(t, dst, src, k, stop)
		}
	}
	// The two implementations agree exactly.
	d1, d2 := make([]byte, len(src)), make([]byte, len(src))
	k1, s1 := asciiPrefix(d1, src)
	k2, s2 := asciiPrefixSWAR(d2, src)
	if k1 != k2 || s1 != s2 || !bytes.Equal(d1[:k1], d2[:k2]) {
		t.Fatalf("asciiPrefix %d/%d, asciiPrefixSWAR %d/%d on % x", k1, s1, k2, s2, src)
	}
}

// TestUTF16zDifferential compares the fast conversion with the
// straightforward one on generated strings: invalid and paired
// surrogates, NULs anywhere, non-ASCII of every UTF-8 length, odd
// lengths, lengths around the 8- and 16-unit blocks, strings without a
// NUL, and the smallest buffer utf16z may be given.
func TestUTF16zDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		units := utf16Case(rng)
		src := le16(units...)
		switch rng.IntN(4) {
		case 0:
			src = append(src, 0, 0) // terminated
		case 1:
			src = append(src, byte(rng.IntN(256))) // odd length
		case 2:
			src = append(src, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8) // terminated, then more fields
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkUTF16z(t, src) })
		if t.Failed() {
			return
		}
	}
	// Every length from 0 to 80 units, all ASCII, with and without a NUL.
	for n := 0; n <= 80; n++ {
		units := make([]uint16, n)
		for i := range units {
			units[i] = uint16('a' + i%26)
		}
		checkUTF16z(t, le16(units...))
		checkUTF16z(t, append(le16(units...), 0, 0))
		checkUTF16z(t, append(le16(units...), 0))
	}
}

// FuzzUTF16z: utf16z agrees with the straightforward conversion on any
// bytes, and both asciiPrefix implementations keep the contract and agree.
func FuzzUTF16z(f *testing.F) {
	f.Add([]byte{})
	f.Add(append(le16(utf16.Encode([]rune(smssNT))...), 0, 0))
	f.Add(le16(0xd83d, 'a', 0xde00, 0xd83d, 0xde00, 0))
	f.Add(le16('a', 'b', 0xe9, 0x416, 0x20ac, 0xffff, 0x8000, 0x7fff, 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 0))
	f.Add([]byte{'a', 0, 'b'})
	f.Fuzz(func(t *testing.T, src []byte) { checkUTF16z(t, src) })
}

// checkV3Paths decodes data as event id, version with decodeV3Whole and
// with decode (the cursor, field by field). When decodeV3Whole takes the
// data, decode makes the same record; when it does not, it has left the
// record alone, and decode reports an error (the data is not a whole
// layout) unless the data is longer than any record.
func checkV3Paths(t *testing.T, d *Decoder, data []byte, id uint16, version uint8) {
	t.Helper()
	var whole, fields Record
	wholeErr := d.decodeV3Whole(data, id, version, 8, &whole, false)
	if wholeErr != nil && wholeErr != errLeft {
		t.Fatalf("decodeV3Whole: %v", wholeErr)
	}
	ok := wholeErr == nil
	whole.ImageName = bytes.Clone(whole.ImageName)
	err := d.decode(data, id, version, 8, &fields)
	if !ok {
		takes := id == EventProcessStart && version >= 3 || id == EventProcessRundown && version >= 1
		if takes && err == nil && len(data) <= maxUserData {
			t.Fatalf("decodeV3Whole refused data decode takes (event %d v%d): % x", id, version, data)
		}
		if !reflect.DeepEqual(whole, Record{}) {
			t.Fatalf("decodeV3Whole changed the record on refusal: %+v", whole)
		}
		return
	}
	if err != nil {
		t.Fatalf("decodeV3Whole took data decode fails on (%v, field %b)", err, fields.ErrField)
	}
	if got, want := normalise(whole), normalise(fields); !reflect.DeepEqual(got, want) {
		t.Fatalf("event %d v%d:\n whole  %+v\n fields %+v", id, version, got, want)
	}
}

// v3Versions are the versions decodeV3Whole takes, with the newest known
// layouts, newer versions of them, and versions it does not take.
var v3Versions = []struct {
	id      uint16
	version uint8
}{{1, 3}, {1, 4}, {1, 5}, {1, 6}, {1, 2}, {15, 1}, {15, 2}, {15, 3}, {15, 9}, {15, 0}}

// TestDecodeV3WholeMatchesFields runs both paths over the fixtures, every
// cut of them, package strings that are not empty, and odd SIDs.
func TestDecodeV3WholeMatchesFields(t *testing.T) {
	d := NewDecoder()
	for _, file := range []string{"start_v3.hex", "start_v4.hex", "start_v5.hex", "rundown_v0.hex"} {
		t.Run(file, func(t *testing.T) {
			data := append(readHex(t, file), 1, 2, 3, 4, 5, 6, 7, 8, 9)
			for n := 0; n <= len(data); n++ {
				for _, v := range v3Versions {
					checkV3Paths(t, d, bytes.Clone(data[:n]), v.id, v.version)
				}
			}
		})
	}
	t.Run("package strings and SIDs", func(t *testing.T) {
		for _, pkg := range [][2]string{{"", ""}, {"Microsoft.WindowsCalculator_8wekyb3d8bbwe", ""}, {"", "App"},
			{"Contoso.App_1.0.0.0_x64__abc", "App"}} {
			for _, label := range []string{"S-1-16-12288", "S-1-0", "S-1-5-21-1-2-3-4-5-6-7-8-9-10-11-12-13-14"} {
				var data []byte
				for _, f := range startV4Fields() {
					switch f.name {
					case "PackageFullName":
						f.s = pkg[0]
					case "PackageRelativeAppId":
						f.s = pkg[1]
					case "MandatoryLabel":
						f.s = label
					}
					data = append(data, encodeField(t, f)...)
				}
				for n := 0; n <= len(data); n++ {
					checkV3Paths(t, d, bytes.Clone(data[:n]), 1, 4)
				}
				var r Record
				if err := d.Decode(data, 1, 4, 8, &r); err != nil || string(r.PackageFullName) != string(le16(utf16.Encode([]rune(pkg[0]))...)) ||
					string(r.PackageRelativeAppID) != string(le16(utf16.Encode([]rune(pkg[1]))...)) || r.Trailing != 0 || r.Has != hasStart4 {
					t.Fatalf("%q %q: %v %+v", pkg, label, err, r)
				}
			}
		}
	})
	t.Run("pointer size", func(t *testing.T) {
		var r Record
		if d.decodeV3Whole(readHex(t, "start_v4.hex"), 1, 4, 2, &r, false) != errLeft || !reflect.DeepEqual(r, Record{}) {
			t.Fatalf("took pointer size 2: %+v", r)
		}
	})
}

// FuzzDecodeV3Paths: on any data, the two paths agree.
func FuzzDecodeV3Paths(f *testing.F) {
	for i, name := range []string{"start_v3.hex", "start_v4.hex", "start_v5.hex"} {
		f.Add(uint8(i), readHex(f, name))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		v := v3Versions[int(which)%len(v3Versions)]
		checkV3Paths(t, NewDecoder(), data, v.id, v.version)
	})
}

// fillRecord sets every field of r to a value that is not zero.
func fillRecord(r *Record) {
	v := reflect.ValueOf(r).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(-7)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(0x5a)
		case reflect.Slice:
			f.SetBytes([]byte("stale"))
		default:
			panic("fillRecord: field " + v.Type().Field(i).Name + " of kind " + f.Kind().String())
		}
	}
}

// TestDecodeResetsRecord: decoding into a record full of an earlier
// event's values gives the record decoding into a zero one does, on every
// path (every fixture, every cut, every version, both pointer sizes and a
// wrong one).
func TestDecodeResetsRecord(t *testing.T) {
	d := NewDecoder()
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			data := append(readHex(t, fx.file), 9, 9)
			for n := 0; n <= len(data); n++ {
				for _, version := range []uint8{fx.version, fx.version + 1} {
					for _, ptr := range []int{8, 4, 3} {
						var zero, stale Record
						errZero := d.Decode(data[:n], fx.id, version, ptr, &zero)
						zero.ImageName = bytes.Clone(zero.ImageName)
						fillRecord(&stale)
						errStale := d.Decode(data[:n], fx.id, version, ptr, &stale)
						if errZero != errStale || !reflect.DeepEqual(zero, stale) {
							t.Fatalf("cut %d v%d ptr %d:\n zero  %+v (%v)\n stale %+v (%v)", n, version, ptr, zero, errZero, stale, errStale)
						}
					}
				}
			}
		})
	}
}
