package detect

import (
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// A Windows path as the detector compares it: the volume it is on and the
// rest, lower-cased, with backslashes. Volume is a drive ("c:"), an NT
// device ("\device\harddiskvolume3"), volSystemRoot for paths written
// relative to the Windows folder (\SystemRoot\..., %SystemRoot%\...), or ""
// when the path names no volume.
type winPath struct {
	vol  string
	rest string
	// odd is set when the path has segments the kernel never reports for
	// an image: "." or "..", or a segment ending in a space or a dot.
	odd bool
}

const volSystemRoot = "<systemroot>"

// normalizePath parses the many spellings of a Windows path: DOS
// (C:\Windows), NT (\Device\HarddiskVolume3\Windows, \??\C:\, \\?\C:\,
// \\?\GLOBALROOT\Device\...), \SystemRoot\ and %SystemRoot% / %windir%.
// Comparison is case-insensitive; "/" counts as a separator.
func normalizePath(p string) winPath {
	s := strings.ReplaceAll(p, "/", `\`)
	var wp winPath
	low := strings.ToLower(s)
	switch {
	case strings.HasPrefix(low, `\??\`):
		low = low[4:]
	case strings.HasPrefix(low, `\\?\globalroot\`):
		low = low[len(`\\?\globalroot`):]
	case strings.HasPrefix(low, `\\?\`), strings.HasPrefix(low, `\\.\`):
		low = low[4:]
	}
	switch {
	case strings.HasPrefix(low, `\systemroot\`) || low == `\systemroot`:
		wp.vol, low = volSystemRoot, low[len(`\systemroot`):]
	case strings.HasPrefix(low, `%systemroot%`):
		wp.vol, low = volSystemRoot, low[len(`%systemroot%`):]
	case strings.HasPrefix(low, `%windir%`):
		wp.vol, low = volSystemRoot, low[len(`%windir%`):]
	case strings.HasPrefix(low, `\device\`):
		// \device\NAME is the volume.
		end := strings.IndexByte(low[len(`\device\`):], '\\')
		if end < 0 {
			wp.vol, low = low, ""
		} else {
			end += len(`\device\`)
			wp.vol, low = low[:end], low[end:]
		}
	case len(low) >= 2 && low[1] == ':' && low[0] >= 'a' && low[0] <= 'z':
		wp.vol, low = low[:2], low[2:]
	}
	// Rebuild the rest segment by segment: empty segments collapse, odd
	// ones are flagged (and kept, so they never compare equal).
	var b strings.Builder
	b.Grow(len(low))
	for _, seg := range strings.Split(low, `\`) {
		if seg == "" {
			continue
		}
		if seg == "." || seg == ".." || strings.HasSuffix(seg, " ") || strings.HasSuffix(seg, ".") {
			wp.odd = true
		}
		b.WriteByte('\\')
		b.WriteString(seg)
	}
	wp.rest = b.String()
	return wp
}

// systemRootDir parses a SystemRoot setting (C:\Windows): it must name a
// drive and a folder.
func systemRootDir(s string) (winPath, bool) {
	wp := normalizePath(strings.TrimRight(s, `\/`))
	if len(wp.vol) != 2 || wp.rest == "" || wp.odd {
		return wp, false
	}
	return wp, true
}

// pathVerdict is the outcome of comparing a path with an expected one.
type pathVerdict uint8

const (
	pathUnknown pathVerdict = iota // cannot tell (volume not mapped)
	pathMatch
	pathMismatch
)

// pathMatcher compares image paths with <SystemRoot>\System32 without
// allocating: it runs for every process an smss.exe starts.
type pathMatcher struct {
	root winPath // e.g. vol "c:", rest "\windows"
	// want holds the lower-case segments of <SystemRoot>\System32.
	want []string
	// devices maps NT device volumes (\device\harddiskvolume3) to drives.
	devices map[string]string
	// rootDev is set when some device maps to SystemRoot's drive: then
	// any other device is another volume.
	rootDev bool
}

func newPathMatcher(root winPath) pathMatcher {
	m := pathMatcher{root: root, devices: map[string]string{}}
	m.setRoot(root)
	return m
}

func (m *pathMatcher) setRoot(root winPath) {
	m.root = root
	m.want = m.want[:0:0]
	for _, seg := range strings.Split(root.rest, `\`) {
		if seg != "" {
			m.want = append(m.want, seg)
		}
	}
	m.want = append(m.want, "system32")
	m.updateRootDev()
}

// maxDevices bounds the NT devices a matcher maps (there are at most 26
// drives; boot records may name more, from hostile input).
const maxDevices = 64

// mapDevice records that NT device dev is drive (lower-case "c:"). The
// map is copied first so engines never share a map they write.
func (m *pathMatcher) mapDevice(dev, drive string) {
	vol := normalizePath(dev + `\x`).vol
	if !strings.HasPrefix(vol, `\device\`) || m.devices[vol] == drive {
		return
	}
	devices := make(map[string]string, len(m.devices)+1)
	for k, v := range m.devices {
		devices[k] = v
	}
	devices[vol] = drive
	m.devices = devices
	m.updateRootDev()
}

func (m *pathMatcher) updateRootDev() {
	m.rootDev = false
	for _, drive := range m.devices {
		if drive == m.root.vol {
			m.rootDev = true
		}
	}
}

func hasPrefixFold(s, lowerPrefix string) bool {
	return len(s) >= len(lowerPrefix) && equalFoldASCII(s[:len(lowerPrefix)], lowerPrefix)
}

// inSystem32 reports whether path is <SystemRoot>\System32\<name>; name
// is lower-case ASCII, or "" to accept any file name in that folder. Paths
// with "." or ".." segments, segments ending in a space or dot, streams
// (":x"), other volumes and lookalike letters do not match. An NT device
// path on a device that is not mapped to a drive gives pathUnknown.
func (m *pathMatcher) inSystem32(path, name string) pathVerdict {
	return m.system32(path, name, false)
}

// underSystem32 reports whether path is a program in <SystemRoot>\System32
// or a folder below it (evidence rule 2's "programs under System32"), with
// the same rules as inSystem32.
func (m *pathMatcher) underSystem32(path string) pathVerdict {
	return m.system32(path, "", true)
}

func (m *pathMatcher) system32(path, name string, sub bool) pathVerdict {
	s := path
	switch {
	case hasPrefixFold(s, `\??\`):
		s = s[4:]
	case hasPrefixFold(s, `\\?\globalroot\`):
		s = s[len(`\\?\globalroot`):]
	case hasPrefixFold(s, `\\?\`), hasPrefixFold(s, `\\.\`):
		s = s[4:]
	}
	want := m.want
	vol := ""
	switch {
	case hasPrefixFold(s, `\systemroot\`):
		s, want = s[len(`\systemroot`):], want[len(want)-1:]
	case hasPrefixFold(s, `%systemroot%\`):
		s, want = s[len(`%systemroot%`):], want[len(want)-1:]
	case hasPrefixFold(s, `%windir%\`):
		s, want = s[len(`%windir%`):], want[len(want)-1:]
	case hasPrefixFold(s, `\device\`):
		end := len(`\device\`)
		for end < len(s) && s[end] != '\\' && s[end] != '/' {
			end++
		}
		vol, s = s[:end], s[end:]
	case len(s) >= 2 && s[1] == ':':
		vol, s = s[:2], s[2:]
	default:
		return pathMismatch
	}
	// Walk the segments: the folder must be want, then the file name.
	idx := 0
	last := ""
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\\' && s[i] != '/' {
			i++
		}
		seg := s[:i]
		if i < len(s) {
			s = s[i+1:]
		} else {
			s = ""
		}
		if seg == "" {
			continue
		}
		if seg == "." || seg == ".." || seg[len(seg)-1] == ' ' || seg[len(seg)-1] == '.' {
			return pathMismatch
		}
		if last != "" {
			// The previous segment was a folder.
			switch {
			case idx >= len(want):
				if !sub {
					return pathMismatch
				}
			case !equalFoldASCII(last, want[idx]):
				return pathMismatch
			default:
				idx++
			}
		}
		last = seg
	}
	if idx != len(want) || last == "" {
		return pathMismatch
	}
	if name != "" && !equalFoldASCII(last, name) {
		return pathMismatch
	}
	for i := 0; i < len(last); i++ {
		if c := last[i]; c == ':' || c >= 0x80 {
			return pathMismatch
		}
	}
	switch {
	case vol == "":
		return pathMatch // \SystemRoot form
	case len(vol) == 2:
		c := vol[0] | 0x20
		if c == m.root.vol[0] {
			return pathMatch
		}
		return pathMismatch
	}
	var buf [96]byte
	if len(vol) > len(buf) {
		if m.rootDev {
			return pathMismatch // no real device name is this long
		}
		return pathUnknown
	}
	low := buf[:len(vol)]
	for i := 0; i < len(vol); i++ {
		c := vol[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	drive, ok := m.devices[string(low)]
	if !ok {
		if m.rootDev {
			// The system volume's device is known and this is another.
			return pathMismatch
		}
		return pathUnknown
	}
	if drive == m.root.vol {
		return pathMatch
	}
	return pathMismatch
}

// equalFoldASCII reports whether s equals the lower-case ASCII word lower,
// ignoring ASCII case. It compares eight bytes at a time (see
// foldWordEqual), then byte by byte.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	i := 0
	if len(s) >= 8 {
		a := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
		b := unsafe.Slice(unsafe.StringData(lower), len(lower))
		for ; i+8 <= len(a); i += 8 {
			if !foldWordEqual(binary.LittleEndian.Uint64(a[i:]), binary.LittleEndian.Uint64(b[i:])) {
				return false
			}
		}
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// foldWordEqual reports whether the eight bytes x equal the eight bytes
// t ignoring ASCII case, where t holds no upper-case letter (as
// equalFoldASCII's lower). A byte of t that is a letter a-z is matched by
// x's byte or'ed with 0x20 (0x20 is set in a-z and clear only in A-Z's
// same letters), every other byte exactly. The letters of t are found
// with two additions to t's low seven bits, which cannot carry from byte
// to byte; t's bytes of 0x80 and above (no letter) lose their flag to
// &^ t.
func foldWordEqual(x, t uint64) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	t7 := t &^ high
	ge := t7 + (0x80-'a')*ones             // bit 7 set where t7 >= 'a'
	gt := t7 + (0x80-'z'-1)*ones           // bit 7 set where t7 > 'z'
	letters := (ge &^ gt &^ t & high) >> 2 // 0x20 in each letter of t
	return x|letters == t
}

// nameClass is what a process's file name says about it.
type nameClass uint8

const (
	nameOther nameClass = iota
	nameSmss            // smss.exe, or a disguise of it
	nameCsrss
	nameWininit
	nameWinlogon
	numNameClasses
)

// classifyName classifies an image's file name. It is on the hot path:
// plain ASCII names cost a length switch and at most one comparison; names
// with non-ASCII bytes, a ':' stream or trailing dots and spaces go through
// lookalike folding so that a Cyrillic "ѕmss.exe" or "smss.exe:x" is still
// recognised as smss.
func classifyName(base string) nameClass {
	switch len(base) {
	case 8:
		if equalFoldASCII(base, "smss.exe") {
			return nameSmss
		}
	case 9:
		if equalFoldASCII(base, "csrss.exe") {
			return nameCsrss
		}
	case 11:
		if equalFoldASCII(base, "wininit.exe") {
			return nameWininit
		}
	case 12:
		if equalFoldASCII(base, "winlogon.exe") {
			return nameWinlogon
		}
	}
	if len(base) < 8 {
		return nameOther
	}
	if last := base[len(base)-1]; last != ' ' && last != '.' && plainName(base) {
		return nameOther
	}
	var buf [16]byte
	folded, ok := foldLookalikeInto(buf[:0], base)
	if !ok {
		return nameOther // longer than any name we look for
	}
	return foldedClass(string(folded))
}

// foldedClass is the class of a name already folded (lower-case ASCII).
func foldedClass(folded string) nameClass {
	switch folded {
	case "smss.exe":
		return nameSmss
	case "csrss.exe":
		return nameCsrss
	case "wininit.exe":
		return nameWininit
	case "winlogon.exe":
		return nameWinlogon
	}
	return nameOther
}

// plainName reports whether a name of at least 8 bytes is plain ASCII
// without a ':' (a stream): such a name cannot fold to another. It reads
// eight bytes at a time, the last word overlapping the one before.
func plainName(s string) bool {
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only; len(s) >= 8
	var m uint64
	for i := 0; i+8 < len(b); i += 8 {
		m |= notPlainMask(binary.LittleEndian.Uint64(b[i:]))
	}
	m |= notPlainMask(binary.LittleEndian.Uint64(b[len(b)-8:]))
	return m == 0
}

// notPlainMask is non-zero when a byte of x is not ASCII or is a ':'.
// The borrow trick's false flags (only above a true one) do not matter:
// the test is whether there is any.
func notPlainMask(x uint64) uint64 {
	const ones, high, colon = 0x0101010101010101, 0x8080808080808080, ':' * 0x0101010101010101
	c := x ^ colon
	return (x | ((c - ones) &^ c)) & high
}

// foldLookalikeInto is foldLookalike into dst without allocating; ok is
// false when the folded name would not fit in cap(dst).
func foldLookalikeInto(dst []byte, name string) ([]byte, bool) {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	name = strings.TrimRight(name, ". ")
	for _, r := range name {
		switch {
		case r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff' || r == '\u00ad':
			continue
		case r >= '\uff01' && r <= '\uff5e':
			r = r - 0xff01 + '!'
		}
		if a, ok := lookalikes[r]; ok {
			r = a
		}
		r = unicode.ToLower(r)
		if r >= utf8.RuneSelf || len(dst) == cap(dst) {
			return dst, false // not ASCII after folding: no name of ours
		}
		dst = append(dst, byte(r))
	}
	return dst, true
}

// lookalikes maps characters that render like ASCII letters to them.
var lookalikes = map[rune]rune{
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'ѕ': 's', 'х': 'x', 'і': 'i', 'ј': 'j', 'ԁ': 'd', 'ո': 'n',
	'А': 'a', 'Е': 'e', 'О': 'o', 'Р': 'p', 'С': 'c', 'Ѕ': 's', 'Х': 'x', 'І': 'i', 'Ј': 'j', 'М': 'm', 'Т': 't', 'Н': 'h', 'К': 'k', 'В': 'b',
	'ο': 'o', 'Ο': 'o', 'ε': 'e', 'Ε': 'e', 'ι': 'i', 'Ι': 'i', 'ν': 'v', 'Χ': 'x', 'χ': 'x', 'Μ': 'm', 'Ν': 'n', 'Κ': 'k', 'Τ': 't',
	'ſ': 's', 'ꜱ': 's', 'ɡ': 'g', 'ı': 'i', 'ⅰ': 'i', 'ℓ': 'l', 'ｍ': 'm',
}

// foldLookalike lower-cases name, maps lookalike letters and full-width
// forms to ASCII, drops invisible characters, cuts an alternate data stream
// (":x") and trailing dots and spaces. It stops at the first character
// that does not fold to ASCII (no name smsswatch compares has one).
func foldLookalike(name string) string {
	b, _ := foldLookalikeInto(make([]byte, 0, len(name)), name)
	return string(b)
}
