package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const ti = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"

// Real SDDL strings, as GetNamedSecurityInfo renders them on Windows 10/11.
const (
	sddlProgramFiles = "O:" + ti + "G:" + ti + "D:PAI(A;;FA;;;" + ti + ")(A;CIIO;GA;;;" + ti + ")(A;;0x1301bf;;;SY)(A;OICIIO;GA;;;SY)" +
		"(A;;0x1301bf;;;BA)(A;OICIIO;GA;;;BA)(A;;0x1200a9;;;BU)(A;OICIIO;GXGR;;;BU)(A;OICIIO;GA;;;CO)(A;;0x1200a9;;;AC)" +
		"(A;OICIIO;GXGR;;;AC)(A;;0x1200a9;;;S-1-15-2-2)(A;OICIIO;GXGR;;;S-1-15-2-2)"
	sddlRoot = "O:" + ti + "G:" + ti + "D:PAI(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICIIO;GA;;;CO)(A;OICI;0x1200a9;;;BU)" +
		"(A;CI;LC;;;AU)(A;CIIO;DC;;;AU)"
	sddlInstalledExe  = "O:BAG:SYD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;ID;0x1200a9;;;AC)"
	sddlUserDownloads = "O:S-1-5-21-1004336348-1177238915-682003330-1001G:S-1-5-21-1004336348-1177238915-682003330-513" +
		"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;S-1-5-21-1004336348-1177238915-682003330-1001)"
	sddlProgramDataDefault = "O:SYG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;CIIO;GA;;;CO)(A;OICI;0x1200a9;;;BU)(A;CI;WD;;;BU)"
)

func TestParseSDDL(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want securityDescriptor
	}{
		{"protected data folder", dataDirSDDL, securityDescriptor{owner: sidAdministrators, hasDACL: true, protected: true, aces: []sddlACE{
			{typ: "A", flags: []string{"OI", "CI"}, mask: 0x1f01ff, sid: sidSystem},
			{typ: "A", flags: []string{"OI", "CI"}, mask: 0x1f01ff, sid: sidAdministrators},
		}}},
		{"hex rights, inherited, alias owner and group", "O:BAG:SYD:AI(A;ID;0x1200a9;;;BU)", securityDescriptor{owner: sidAdministrators, hasDACL: true,
			aces: []sddlACE{{typ: "A", flags: []string{"ID"}, mask: 0x1200a9, sid: "S-1-5-32-545"}}}},
		{"combined letter rights", "D:(A;;GRGX;;;WD)", securityDescriptor{hasDACL: true,
			aces: []sddlACE{{typ: "A", mask: 0xa0000000, sid: "S-1-1-0"}}}},
		{"NULL DACL", "O:SYD:NO_ACCESS_CONTROL", securityDescriptor{owner: sidSystem, hasDACL: true, nullDACL: true}},
		{"empty DACL (nobody)", "O:SYD:P", securityDescriptor{owner: sidSystem, hasDACL: true, protected: true}},
		{"no DACL part", "O:SYG:SY", securityDescriptor{owner: sidSystem}},
		{"conditional ACE with nested parentheses, then SACL", `D:(XA;;FA;;;WD;(Member_of {SID(BA)}))(A;;FA;;;SY)S:(ML;;NW;;;HI)`,
			securityDescriptor{hasDACL: true, aces: []sddlACE{
				{typ: "XA", mask: 0x1f01ff, sid: "S-1-1-0"},
				{typ: "A", mask: 0x1f01ff, sid: sidSystem},
			}}},
		{"lower-case SID normalised", "D:(A;;FA;;;s-1-5-18)", securityDescriptor{hasDACL: true, aces: []sddlACE{{typ: "A", mask: 0x1f01ff, sid: sidSystem}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseSDDL(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseSDDLMalformed(t *testing.T) {
	for _, in := range []string{
		"D:(A;;FA;;;SY", "D:(A;;FA;;;SY))", "D:(A;;FA;;SY)", "D:(A;;ZZ;;;SY)", "D:(A;;0xZZ;;;SY)", "D:(;;FA;;;SY)",
		"D:(A;;FA;;;)", "D:XY(A;;FA;;;SY)", "D:(A;;FA;;;SY)junk", "D:(A;O;FA;;;SY)", "D:(A;;F;;;SY)", "garbage",
		"D:(A;;FA;;;SY)D:(A;;FA;;;WD)", "D:(A;;0x1ffffffff;;;SY)",
	} {
		t.Run(in, func(t *testing.T) {
			if _, err := parseSDDL(in); !errors.Is(err, errSDDL) {
				t.Errorf("err %v, want errSDDL", err)
			}
		})
	}
}

func TestACLDecisions(t *testing.T) {
	cases := []struct {
		name               string
		sddl               string
		writable, readable []string // SIDs found
		replaceable        []string
	}{
		{"protected data folder: nobody else", dataDirSDDL, nil, nil, nil},
		{"Program Files: Users read and execute only; CREATOR OWNER and inherit-only ignored", sddlProgramFiles,
			nil, []string{"S-1-5-32-545", "S-1-15-2-1", "S-1-15-2-2"}, nil},
		{"C:\\: Authenticated Users may add folders (write), not replace", sddlRoot,
			[]string{"S-1-5-11"}, []string{"S-1-5-32-545"}, nil},
		{"binary installed under Program Files", sddlInstalledExe, nil, []string{"S-1-5-32-545", "S-1-15-2-1"}, nil},
		{"user folder: the user owns it and has full control", sddlUserDownloads,
			[]string{"S-1-5-21-1004336348-1177238915-682003330-1001", "S-1-5-21-1004336348-1177238915-682003330-1001"}, []string{"S-1-5-21-1004336348-1177238915-682003330-1001"},
			[]string{"S-1-5-21-1004336348-1177238915-682003330-1001", "S-1-5-21-1004336348-1177238915-682003330-1001"}},
		{"Users allowed WRITE_DAC (WD) on subfolders", sddlProgramDataDefault,
			[]string{"S-1-5-32-545"}, []string{"S-1-5-32-545"}, []string{"S-1-5-32-545"}},
		{"NULL DACL: everyone everything", "O:SYD:NO_ACCESS_CONTROL", []string{"S-1-1-0"}, []string{"S-1-1-0"}, []string{"S-1-1-0"}},
		{"Everyone read only", "O:SYD:P(A;;FA;;;SY)(A;;FR;;;WD)", nil, []string{"S-1-1-0"}, nil},
		{"Users append data only", "O:SYD:P(A;;FA;;;SY)(A;;0x4;;;BU)", []string{"S-1-5-32-545"}, nil, nil},
		{"Users delete (a file can be replaced)", "O:SYD:P(A;;FA;;;SY)(A;;SD;;;BU)", []string{"S-1-5-32-545"}, nil, []string{"S-1-5-32-545"}},
		{"Users delete child", "O:SYD:P(A;;FA;;;SY)(A;;0x40;;;BU)", []string{"S-1-5-32-545"}, nil, []string{"S-1-5-32-545"}},
		{"Users write DAC", "O:SYD:P(A;;FA;;;SY)(A;;WD;;;BU)", []string{"S-1-5-32-545"}, nil, []string{"S-1-5-32-545"}},
		{"Users generic write", "O:SYD:P(A;;FA;;;SY)(A;;GW;;;BU)", []string{"S-1-5-32-545"}, nil, nil},
		{"Users generic all", "O:SYD:P(A;;FA;;;SY)(A;;GA;;;BU)", []string{"S-1-5-32-545"}, []string{"S-1-5-32-545"}, []string{"S-1-5-32-545"}},
		{"deny ACEs are not subtracted (conservative)", "O:SYD:P(D;;FA;;;BU)(A;;FA;;;SY)(A;;FW;;;BU)", []string{"S-1-5-32-545"}, nil, nil},
		{"inherit-only grant to Everyone does not apply to the object", "O:SYD:P(A;;FA;;;SY)(A;OICIIO;FA;;;WD)", nil, nil, nil},
		{"object allow ACE counts", "O:SYD:P(OA;;FA;00000000-0000-0000-0000-000000000000;;WD)", []string{"S-1-1-0"}, []string{"S-1-1-0"}, []string{"S-1-1-0"}},
		{"conditional allow counts", `O:SYD:P(XA;;FW;;;WD;(Member_of {SID(BA)}))`, []string{"S-1-1-0"}, nil, nil},
		{"owner a user, DACL clean: writable through the owner", "O:S-1-5-21-1-2-3-1001D:P(A;;FA;;;SY)", []string{"S-1-5-21-1-2-3-1001"}, nil, []string{"S-1-5-21-1-2-3-1001"}},
		{"TrustedInstaller owner and full control", "O:" + ti + "D:P(A;;FA;;;" + ti + ")", nil, nil, nil},
		{"read attributes and READ_CONTROL only: not readable", "O:SYD:P(A;;FA;;;SY)(A;;0x20080;;;WD)", nil, nil, nil},
		{"write attributes: writable", "O:SYD:P(A;;FA;;;SY)(A;;0x100;;;WD)", []string{"S-1-1-0"}, nil, nil},
	}
	sids := func(fs []aclFinding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.sid)
		}
		return out
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd, err := parseSDDL(c.sddl)
			if err != nil {
				t.Fatal(err)
			}
			if got := sids(sd.writableByOthers()); !reflect.DeepEqual(got, c.writable) {
				t.Errorf("writable by %q, want %q", got, c.writable)
			}
			if got := sids(sd.readableByOthers()); !reflect.DeepEqual(got, c.readable) {
				t.Errorf("readable by %q, want %q", got, c.readable)
			}
			if got := sids(sd.replaceableByOthers()); !reflect.DeepEqual(got, c.replaceable) {
				t.Errorf("replaceable by %q, want %q", got, c.replaceable)
			}
		})
	}
}

func TestCheckACL(t *testing.T) {
	cases := []struct {
		name string
		c    aclCheck
		ok   bool
		want []string
	}{
		{"creds in the protected folder", aclCheck{sddl: "O:BAG:SYD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)", noWrite: true, noRead: true}, true, nil},
		{"creds readable by Users", aclCheck{sddl: "O:BAG:SYD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)", noWrite: true, noRead: true},
			false, []string{"readable: Users (S-1-5-32-545) is allowed 0x1200a9"}},
		{"spool writable by Authenticated Users", aclCheck{sddl: "O:SYD:(A;;FA;;;SY)(A;;0x1301bf;;;AU)", noWrite: true},
			false, []string{"writable: Authenticated Users (S-1-5-11)"}},
		{"readable is fine when only writes are checked", aclCheck{sddl: "O:SYD:(A;;FA;;;SY)(A;;FR;;;WD)", noWrite: true}, true, nil},
		{"no DACL in the string", aclCheck{sddl: "O:SY", noWrite: true}, false, []string{"no DACL"}},
		{"replace check lets add-subfolder pass", aclCheck{sddl: sddlRoot, noReplace: true}, true, nil},
		{"replace check catches a user owner", aclCheck{sddl: sddlUserDownloads, noReplace: true}, false, []string{"owns it"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.c.path, c.c.description = `C:\x`, "thing"
			err := checkACL(c.c)
			if c.ok {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, errUnsafeACL) {
				t.Fatalf("err %v, want errUnsafeACL", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v lacks %q", err, w)
				}
			}
		})
	}
	if err := checkACL(aclCheck{path: "p", sddl: "D:(A;;FA;;SY)", noWrite: true}); !errors.Is(err, errSDDL) {
		t.Errorf("malformed: %v", err)
	}
}

func TestInstallChecks(t *testing.T) {
	exe := `C:\Program Files\smsswatch\smsswatch.exe`
	paths := pathsUpward(exe)
	sddls := []string{sddlInstalledExe, sddlInstalledExe, sddlProgramFiles, sddlRoot}
	for _, c := range installChecks(paths, sddls) {
		if err := checkACL(c); err != nil {
			t.Errorf("default Program Files install refused: %v", err)
		}
	}
	// The same binary in a user's Downloads folder is refused.
	paths = pathsUpward(`C:\Users\bob\Downloads\smsswatch.exe`)
	sddls = []string{sddlInstalledExe, sddlUserDownloads, sddlUserDownloads, sddlProgramFiles, sddlRoot}
	refused := 0
	for _, c := range installChecks(paths, sddls) {
		if err := checkACL(c); err != nil {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d paths refused, want 2 (Downloads and bob)", refused)
	}
}

func TestPathsUpward(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`C:\Program Files\smsswatch\smsswatch.exe`, []string{`C:\Program Files\smsswatch\smsswatch.exe`, `C:\Program Files\smsswatch`, `C:\Program Files`, `C:\`}},
		{`C:\smsswatch.exe`, []string{`C:\smsswatch.exe`, `C:\`}},
		{`D:\a\`, []string{`D:\a`, `D:\`}},
		{`C:/x/y.exe`, []string{`C:\x\y.exe`, `C:\x`, `C:\`}},
		{`C:`, []string{`C:\`}},
		{`\\server\share\smsswatch.exe`, []string{`\\server\share\smsswatch.exe`, `\\server\share`}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := pathsUpward(c.in); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestServiceFiles(t *testing.T) {
	flags := map[string]string{"creds": `C:\ProgramData\smsswatch\sensor.creds`, "spool": `C:\ProgramData\smsswatch\spool`, "tls-ca": `C:\ca.pem`}
	got := serviceFiles(func(n string) string { return flags[n] })
	want := []protectedFile{
		{path: flags["creds"], what: "NATS credentials", secret: true},
		{path: flags["spool"], what: "spool folder", secret: true},
		{path: flags["tls-ca"], what: "TLS CA file"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
}
