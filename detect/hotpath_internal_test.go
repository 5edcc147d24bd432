package detect

import (
	"math/rand"
	"strings"
	"testing"
)

// refIsChildCmd is isChildCmd as it was before its fast paths (TrimRight,
// a folded compare of the image, a byte loop over the hex words; the
// Windows 11 tail, which they did not change, is shared): the reference
// the faster one must agree with.
func refIsChildCmd(cmd string) bool {
	cmd = strings.TrimRight(cmd, " ")
	if len(cmd) < len(masterCmd)+18 || !equalFoldASCII(cmd[:len(masterCmd)], masterCmd) {
		return false
	}
	rest := cmd[len(masterCmd):]
	for i := 0; i < 18; i++ {
		c := rest[i]
		if i == 0 || i == 9 {
			if c != ' ' {
				return false
			}
			continue
		}
		if !isHex(c) {
			return false
		}
	}
	return isChildCmdTail(rest[18:]) // unchanged by the fast paths
}

// TestIsHex8EveryByte puts every byte value at every position of an
// otherwise hex word and compares isHex8 with isHex byte by byte.
func TestIsHex8EveryByte(t *testing.T) {
	fills := []string{"00000000", "ffffffff", "FFFFFFFF", "9a9A0fF0"}
	for _, fill := range fills {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(fill)
				b[pos] = byte(c)
				if got, want := isHex8(string(b)), isHex(byte(c)); got != want {
					t.Fatalf("isHex8(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// TestIsHex8Words: whole words, against isHex over each byte.
func TestIsHex8Words(t *testing.T) {
	cases := []struct {
		s    string
		want bool
	}{
		{"000000c8", true}, {"00000084", true}, {"DEADBEEF", true}, {"deadbeef", true}, {"0123abCD", true},
		{"0000000g", false}, {"G0000000", false}, {"0000 000", false}, {"/0000000", false}, {":0000000", false},
		{"@0000000", false}, {"`0000000", false}, {"0000000\x80", false}, {"\xff0000000"[:8], false},
		{"\xc1\xc20000000"[:8], false}, {"0000000x", false},
	}
	for _, tc := range cases {
		ref := true
		for i := 0; i < 8; i++ {
			ref = ref && isHex(tc.s[i])
		}
		if ref != tc.want {
			t.Fatalf("case %q: reference says %v, table %v", tc.s, ref, tc.want)
		}
		if got := isHex8(tc.s); got != tc.want {
			t.Errorf("isHex8(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := "0123456789abcdefABCDEFgG /:@`\x80\xff\x00"
	for n := 0; n < 200000; n++ {
		var b [8]byte
		for i := range b {
			b[i] = alphabet[rng.Intn(len(alphabet))]
		}
		ref := true
		for _, c := range b {
			ref = ref && isHex(c)
		}
		if got := isHex8(string(b[:])); got != ref {
			t.Fatalf("isHex8(%q) = %v, want %v", b, got, ref)
		}
	}
}

// TestIsChildCmdMatchesReference compares isChildCmd with refIsChildCmd
// on the shapes of DETECTION.md, their near misses, and mutations of
// them.
func TestIsChildCmdMatchesReference(t *testing.T) {
	cases := []string{
		`\SystemRoot\System32\smss.exe 000000c8 00000084`,
		`\SystemRoot\System32\smss.exe 000000d4 00000084 `,
		`\SystemRoot\System32\smss.exe 000000d4 00000084   `,
		`\systemroot\system32\SMSS.EXE 000000C8 0000008A`,
		`\SYSTEMROOT\SYSTEM32\SMSS.EXE 000000c8 00000084`,
		`\SystemRoot\System32\smss.exe 000000c8 00000084 winlogon.exe {F481D527-E8FA-457D-87F9-084B51C10000}`,
		`\SystemRoot\System32\smss.exe 000000c8 00000084 WININIT.EXE {F481D527-E8FA-457D-87F9-084B51C10000} `,
		`\SystemRoot\System32\smss.exe 000000c8 00000084  winlogon.exe {F481D527-E8FA-457D-87F9-084B51C10000}`,
		`\SystemRoot\System32\smss.exe 000000c8 00000084 explorer.exe {F481D527-E8FA-457D-87F9-084B51C10000}`,
		`\SystemRoot\System32\smss.exe 000000c8 00000084 winlogon.exe`,
		`\SystemRoot\System32\smss.exe 000000c8 00000084x`,
		`\SystemRoot\System32\smss.exe 000000c8 0000008`,
		`\SystemRoot\System32\smss.exe 000000g8 00000084`,
		`\SystemRoot\System32\smss.exe 000000c8_00000084`,
		`\SystemRoot\System32\smss.exe_000000c8 00000084`,
		`\SystemRoot\System32\smsѕ.exe 000000c8 00000084`,
		`\SystemRoot\System32\smss.exe`,
		`C:\Windows\System32\smss.exe 000000c8 00000084`,
		`\SystemRoot\System32\smss.exe -p x`,
		` `, ``,
	}
	for _, c := range cases {
		if got, want := isChildCmd(c), refIsChildCmd(c); got != want {
			t.Errorf("isChildCmd(%q) = %v, reference %v", c, got, want)
		}
	}
	// Mutations: every byte of each case replaced by bytes that matter
	// (case, space, hex and non-hex, non-ASCII), and every cut.
	subst := []byte{' ', '0', '9', 'a', 'f', 'A', 'F', 'g', 'G', 'S', 's', '\\', '.', '{', '-', 0x80, 0xd1, 0x00}
	for _, c := range cases {
		for i := 0; i < len(c); i++ {
			for _, r := range subst {
				b := []byte(c)
				b[i] = r
				m := string(b)
				if got, want := isChildCmd(m), refIsChildCmd(m); got != want {
					t.Fatalf("isChildCmd(%q) = %v, reference %v", m, got, want)
				}
			}
			if got, want := isChildCmd(c[:i]), refIsChildCmd(c[:i]); got != want {
				t.Fatalf("isChildCmd(%q) = %v, reference %v", c[:i], got, want)
			}
		}
	}
}

// TestIsSystemSID: the exact spelling and others of any case are
// SYSTEM, as strings.EqualFold (the reference) says.
func TestIsSystemSID(t *testing.T) {
	cases := []string{"S-1-5-18", "s-1-5-18", "S-1-5-18 ", "S-1-5-180", "S-1-5-19", "", "S-1-5-1"}
	for _, c := range cases {
		if got, want := isSystemSID(c), strings.EqualFold(c, sidSystem); got != want {
			t.Errorf("isSystemSID(%q) = %v, want %v", c, got, want)
		}
	}
}

// refListedChild is the allow-list lookup as allowedChild made it before
// the per-class answers: the lower-cased name in the detector's and the
// engine's maps.
func refListedChild(e *Engine, role Role, name string) bool {
	if len(name) > 64 {
		return false
	}
	b := []byte(name)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	switch role {
	case RoleMaster:
		return e.d.masterAllow[string(b)] || e.bootAllow[string(b)]
	case RoleChild:
		return e.d.childAllow[string(b)]
	case RoleUnknown:
		return e.d.masterAllow[string(b)] || e.bootAllow[string(b)] || e.d.childAllow[string(b)]
	}
	return false
}

// TestListedChildMatchesReference compares listedChild, with the class
// and exactness nameOf gives, with refListedChild for every role, names
// of every class (exact, upper-case, lookalike, stream) and others, under
// the default lists, lists that leave the classes out or put them on the
// other role's list, and a BootExecute baseline naming one.
func TestListedChildMatchesReference(t *testing.T) {
	configs := []struct {
		name   string
		master []string
		child  []string
		boot   string // engine baseline program, if any
	}{
		{"default", nil, nil, ""},
		{"child list without winlogon", nil, []string{"csrss.exe", "wininit.exe"}, ""},
		{"master may start csrss", []string{"smss.exe", "autochk.exe", "CSRSS.exe"}, nil, ""},
		{"baseline names winlogon", nil, []string{"csrss.exe"}, "winlogon.exe"},
		{"baseline names a program", nil, nil, "mybootprog.exe"},
		{"lookalike on a list", []string{"ѕmss.exe"}, []string{"сsrss.exe"}, ""},
	}
	names := []string{
		"smss.exe", "SMSS.EXE", "ѕmss.exe", "smss.exe:x", "csrss.exe", "CsRsS.ExE", "сsrss.exe", "csrss.exe. ",
		"wininit.exe", "WININIT.EXE", "winlogon.exe", "WinLogon.exe", "wіnlogon.exe", "werfault.exe", "WerFault.exe",
		"autochk.exe", "AUTOCHK.EXE", "mybootprog.exe", "MyBootProg.exe", "explorer.exe", "", strings.Repeat("a", 70),
	}
	roles := []Role{RoleMaster, RoleChild, RoleUnknown, RoleRogue}
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if cf.master != nil {
				cfg.MasterAllow = cf.master
			}
			if cf.child != nil {
				cfg.ChildAllow = cf.child
			}
			d, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := d.Engine("H", 0, SinkFunc(func(*Violation) {}))
			if cf.boot != "" {
				e.bootAllow[cf.boot] = true
			}
			for _, n := range names {
				image := `C:\Windows\System32\` + n
				base, cls, exact := e.nameOf(image)
				if base != n {
					t.Fatalf("nameOf(%q) base %q", image, base)
				}
				for _, role := range roles {
					if got, want := e.listedChild(role, base, cls, exact), refListedChild(e, role, base); got != want {
						t.Errorf("listedChild(%v, %q, class %d, exact %v) = %v, reference %v", role, base, cls, exact, got, want)
					}
				}
			}
		})
	}
}
