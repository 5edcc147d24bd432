package live

import (
	"encoding/binary"
	"reflect"
	"testing"
	"unicode/utf16"

	"github.com/smsswatch/smsswatch/etw"
)

func u16(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func TestFormatRegData(t *testing.T) {
	for _, c := range []struct {
		typ  uint32
		raw  []byte
		want string
	}{
		{regMultiSZ, u16("autocheck autochk *\x00\x00"), "autocheck autochk *"},
		{regMultiSZ, u16("autocheck autochk *\x00evil.exe\x00\x00"), "autocheck autochk * evil.exe"},
		{regMultiSZ, u16("\x00"), ""},
		{regSZ, u16(`Debug Windows` + "\x00"), "Debug Windows"},
		{regExpandSZ, u16(`%SystemRoot%\system32\csrss.exe ObjectDirectory=\Windows` + "\x00"), `%SystemRoot%\system32\csrss.exe ObjectDirectory=\Windows`},
		{regDWORD, []byte{1, 0, 0, 0}, "DWORD (0x00000001)"},
		{regDWORDBE, []byte{0, 0, 1, 0}, "DWORD (0x00000100)"},
		{regQWORD, []byte{0xff, 0, 0, 0, 0, 0, 0, 0x10}, "QWORD (0x10000000000000ff)"},
		{regBinary, []byte{0xde, 0xad}, "Binary Data dead"},
		{regDWORD, []byte{1}, "Binary Data 01"},
		{regNone, nil, ""},
		{regSZ, []byte{'a', 0, 'b'}, "a"},
	} {
		if got := formatRegData(c.typ, c.raw); got != c.want {
			t.Errorf("formatRegData(%d, %x) = %q, want %q", c.typ, c.raw, got, c.want)
		}
	}
}

func TestRegKeyPath(t *testing.T) {
	if got := regKeyPath("ControlSet002", "SubSystems"); got != `HKLM\SYSTEM\ControlSet002\Control\Session Manager\SubSystems` {
		t.Errorf("regKeyPath %q", got)
	}
}

func TestDiffRegistry(t *testing.T) {
	k := regKeyPath("CurrentControlSet", "")
	ak := regKeyPath("CurrentControlSet", "AppCertDlls")
	old := regState{}
	old.add(regValue{Key: k, Value: "BootExecute", Data: "autocheck autochk *"})
	old.add(regValue{Key: k, Value: "SetupExecute", Data: ""})
	cur := regState{}
	cur.add(regValue{Key: k, Value: "BootExecute", Data: "autocheck autochk * evil"})
	cur.add(regValue{Key: ak, Value: "evil", Data: `C:\evil.dll`})
	got := diffRegistry(old, cur)
	want := []etw.Registry{
		{Op: etw.RegOpSetValue, Key: k, Value: "BootExecute", Data: "autocheck autochk * evil"},
		{Op: etw.RegOpSetValue, Key: ak, Value: "evil", Data: `C:\evil.dll`},
		{Op: etw.RegOpDeleteValue, Key: k, Value: "SetupExecute"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diff\n got  %+v\n want %+v", got, want)
	}
	if d := diffRegistry(cur, cur); len(d) != 0 {
		t.Errorf("no change gave %+v", d)
	}
	// Value names compare without case (the registry's rule).
	renamed := regState{}
	renamed.add(regValue{Key: k, Value: "BOOTEXECUTE", Data: "autocheck autochk * evil"})
	renamed.add(regValue{Key: ak, Value: "evil", Data: `C:\evil.dll`})
	if d := diffRegistry(cur, renamed); len(d) != 0 {
		t.Errorf("case change gave %+v", d)
	}
	base := baselineRegistry(old)
	if len(base) != 2 || base[0].Op != etw.RegOpBaseline || base[0].Value != "BootExecute" {
		t.Errorf("baseline %+v", base)
	}
}
