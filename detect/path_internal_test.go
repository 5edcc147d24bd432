package detect

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestInSystem32(t *testing.T) {
	root, _ := systemRootDir(`C:\Windows`)
	m := newPathMatcher(root)
	m.mapDevice(`\Device\HarddiskVolume3`, "c:")
	unmapped := newPathMatcher(root)
	cases := []struct {
		path string
		m    *pathMatcher
		want pathVerdict
	}{
		{`C:\Windows\System32\smss.exe`, &m, pathMatch},
		{`c:\windows\system32\SMSS.EXE`, &m, pathMatch},
		{`\SystemRoot\System32\smss.exe`, &m, pathMatch},
		{`%SystemRoot%\System32\smss.exe`, &m, pathMatch},
		{`%windir%\system32\smss.exe`, &m, pathMatch},
		{`\??\C:\Windows\System32\smss.exe`, &m, pathMatch},
		{`\\?\C:\Windows\System32\smss.exe`, &m, pathMatch},
		{`\Device\HarddiskVolume3\Windows\System32\smss.exe`, &m, pathMatch},
		{`\\?\GLOBALROOT\Device\HarddiskVolume3\Windows\System32\smss.exe`, &m, pathMatch},
		{`C:/Windows/System32/smss.exe`, &m, pathMatch},
		{`\Device\HarddiskVolume3\Windows\System32\smss.exe`, &unmapped, pathUnknown},
		{`\Device\HarddiskVolume4\Windows\System32\smss.exe`, &m, pathMismatch},
		{`D:\Windows\System32\smss.exe`, &m, pathMismatch},
		{`C:\Windows\System32\..\System32\smss.exe`, &m, pathMismatch},
		{`C:\Windows\System32\..\..\Users\Public\smss.exe`, &m, pathMismatch},
		{`C:\Windows \System32\smss.exe`, &m, pathMismatch},
		{`C:\Windows\System32.\smss.exe`, &m, pathMismatch},
		{`C:\Windows\System32\smss.exe:x`, &m, pathMismatch},
		{`C:\Windows\System32\smss.exe `, &m, pathMismatch},
		{`C:\Windows\SysWOW64\smss.exe`, &m, pathMismatch},
		{`C:\Windows\System32\ѕmss.exe`, &m, pathMismatch},
		{`C:\Windows\System32\sub\smss.exe`, &m, pathMismatch},
		{`C:\Windows\smss.exe`, &m, pathMismatch},
		{`smss.exe`, &m, pathMismatch},
		{``, &m, pathMismatch},
		{`C:`, &m, pathMismatch},
		{`\Device\`, &m, pathMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			if got := tc.m.inSystem32(tc.path, "smss.exe"); got != tc.want {
				t.Fatalf("inSystem32(%q) = %d, want %d", tc.path, got, tc.want)
			}
		})
	}
}

func TestClassifyName(t *testing.T) {
	cases := []struct {
		name string
		want nameClass
	}{
		{"smss.exe", nameSmss},
		{"SMSS.EXE", nameSmss},
		{"ѕmss.exe", nameSmss},       // Cyrillic dze
		{"smss.exe:x", nameSmss},     // alternate data stream
		{"smss.exe. ", nameSmss},     // trailing dot and space
		{"ｓｍｓｓ.exe", nameSmss},       // full-width
		{"sm\u200bss.exe", nameSmss}, // zero-width space
		{"csrss.exe", nameCsrss},
		{"wininit.exe", nameWininit},
		{"WinLogon.exe", nameWinlogon},
		{"smss.exe.bak", nameOther},
		{"smsss.exe", nameOther},
		{"svchost.exe", nameOther},
		{"", nameOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyName(tc.name); got != tc.want {
				t.Fatalf("classifyName(%q) = %d, want %d", tc.name, got, tc.want)
			}
		})
	}
}

func TestCommandLineShapes(t *testing.T) {
	cases := []struct {
		cmd           string
		master, child bool
	}{
		{`\SystemRoot\System32\smss.exe`, true, false},
		{`\systemroot\system32\SMSS.EXE  `, true, false},
		{`\SystemRoot\System32\smss.exe 000000c8 00000084`, false, true},
		{`\SystemRoot\System32\smss.exe 000000d4 00000084 `, false, true},
		{`\SystemRoot\System32\smss.exe 000000c8 0000008`, false, false},
		{`\SystemRoot\System32\smss.exe 000000g8 00000084`, false, false},
		{`C:\Windows\System32\smss.exe`, false, false},
		{`\SystemRoot\System32\smss.exe -p x`, false, false},
		{``, false, false},
	}
	for _, tc := range cases {
		if isMasterCmd(tc.cmd) != tc.master || isChildCmd(tc.cmd) != tc.child {
			t.Errorf("%q: master %v child %v", tc.cmd, isMasterCmd(tc.cmd), isChildCmd(tc.cmd))
		}
	}
}

func TestServicingData(t *testing.T) {
	cases := []struct {
		data string
		want bool
	}{
		{"", true},
		{normData(`C:\Windows\System32\poqexec.exe /display_progress \SystemRoot\WinSxS\pending.xml`), true},
		{normData(`\SystemRoot\System32\poqexec.exe /display_progress`), true},
		{normData(`C:\Users\Public\poqexec.exe`), false},
		{normData(`C:\Users\Public\evil.exe C:\Windows\System32\poqexec.exe`), false},
		{normData(`evil.exe`), false},
	}
	for _, tc := range cases {
		if got := servicingData(tc.data); got != tc.want {
			t.Errorf("%q: %v", tc.data, got)
		}
	}
}

// plainNameRef is plainName byte by byte.
func plainNameRef(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == ':' {
			return false
		}
	}
	return true
}

// TestPlainName puts one byte that is not plain (non-ASCII, ':') and its
// neighbours in value at every position of every length from 8 to 40.
func TestPlainName(t *testing.T) {
	for n := 8; n <= 40; n++ {
		base := []byte(strings.Repeat("a", n))
		if !plainName(string(base)) {
			t.Fatalf("len %d: all 'a' is not plain", n)
		}
		for i := 0; i < n; i++ {
			for _, c := range []byte{':', ':' - 1, ':' + 1, 0x7f, 0x80, 0xba, 0xff, 0} {
				b := append([]byte(nil), base...)
				b[i] = c
				if got, want := plainName(string(b)), plainNameRef(string(b)); got != want {
					t.Fatalf("len %d, %#x at %d: plainName = %v, want %v", n, c, i, got, want)
				}
			}
		}
	}
}

// classifyNameRef is classifyName without its fast paths: every name
// folded.
func classifyNameRef(base string) nameClass {
	folded, ok := foldLookalikeInto(make([]byte, 0, 16), base)
	if !ok {
		return nameOther
	}
	return foldedClass(string(folded))
}

func FuzzClassifyName(f *testing.F) {
	for _, s := range []string{"smss.exe", "SMSS.EXE", "ѕmss.exe", "smss.exe:x", "smss.exe. ", "csrss.exe", "agent.exe", "wininit.exe:$DATA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := classifyName(s), classifyNameRef(s); got != want {
			t.Fatalf("classifyName(%q) = %d, want %d", s, got, want)
		}
	})
}

// equalFoldASCIIRef is equalFoldASCII byte by byte.
func equalFoldASCIIRef(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
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

// TestFoldWordEqualEveryByte: for every pair of byte values, in every
// position of a word whose other bytes match (and, separately, whose
// other bytes are 0xff in t), the word compare agrees with the byte
// compare; t's bytes go over all 256 values, not only lower case, so the
// letter mask is shown exact whatever t holds (an upper-case letter in t
// matches nothing but itself there, as equalFoldASCII's loop does not).
func TestFoldWordEqualEveryByte(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for tv := 0; tv < 256; tv++ {
			for xv := 0; xv < 256; xv++ {
				for _, bg := range []uint64{0x6161616161616161, 0xffffffffffffffff, 0} {
					shift := uint(8 * pos)
					tw := bg&^(0xff<<shift) | uint64(tv)<<shift
					xw := bg&^(0xff<<shift) | uint64(xv)<<shift
					want := xv == tv
					if tv >= 'a' && tv <= 'z' {
						want = xv == tv || xv == tv-('a'-'A')
					}
					if got := foldWordEqual(xw, tw); got != want {
						t.Fatalf("pos %d t %#x x %#x bg %#x: got %v, want %v", pos, tv, xv, bg, got, want)
					}
				}
			}
		}
	}
}

func TestEqualFoldASCII(t *testing.T) {
	lowers := []string{"", "a", "smss.exe", "csrss.exe", "winlogon.exe", `\systemroot\system32\smss.exe`, "0123456789abcdef:"}
	for _, lower := range lowers {
		for i := 0; i <= len(lower); i++ {
			for _, s := range []string{strings.ToUpper(lower), lower, lower[:i], lower[:i] + "@" + lower[min(i+1, len(lower)):],
				lower[:i] + "[" + lower[min(i+1, len(lower)):], lower[:i] + "\xc1" + lower[min(i+1, len(lower)):],
				strings.ToUpper(lower[:i]) + lower[i:]} {
				if got, want := equalFoldASCII(s, lower), equalFoldASCIIRef(s, lower); got != want {
					t.Fatalf("equalFoldASCII(%q, %q) = %v, want %v", s, lower, got, want)
				}
			}
		}
	}
}

func FuzzEqualFoldASCII(f *testing.F) {
	f.Add(`\SystemRoot\System32\SMSS.EXE`, `\systemroot\system32\smss.exe`)
	f.Add("WINLOGON.EXE", "winlogon.exe")
	f.Fuzz(func(t *testing.T, s, lower string) {
		lower = strings.ToLower(lower) // the contract: lower holds no upper-case ASCII
		if got, want := equalFoldASCII(s, lower), equalFoldASCIIRef(s, lower); got != want {
			t.Fatalf("equalFoldASCII(%q, %q) = %v, want %v", s, lower, got, want)
		}
	})
}
