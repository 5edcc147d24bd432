package sessmgr

import (
	"reflect"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, c := range []struct {
		sub, name string
		want      bool
		def       string
	}{
		{"", "BootExecute", true, "autocheck autochk *"},
		{"", "bootexecute", true, "autocheck autochk *"},
		{"subsystems", "REQUIRED", true, "debug windows"},
		{"KnownDLLs", "kernel32", true, ""},
		{"AppCertDlls", "anything", true, ""},
		{"", "Environment", false, ""},
		{"SubSystems", "Posix", false, ""},
		{"Memory Management", "BootExecute", false, ""},
	} {
		t.Run(c.sub+`\`+c.name, func(t *testing.T) {
			v, ok := Lookup(c.sub, c.name)
			if ok != c.want || v.Default != c.def {
				t.Errorf("Lookup = %+v, %v", v, ok)
			}
		})
	}
}

func TestSubkeys(t *testing.T) {
	if got := Subkeys(); !reflect.DeepEqual(got, []string{"", "SubSystems", "AppCertDlls", "KnownDLLs"}) {
		t.Errorf("Subkeys %q", got)
	}
}

func TestControlSetName(t *testing.T) {
	for in, want := range map[string]string{"ControlSet001": "ControlSet001", "controlset002": "ControlSet002",
		"CONTROLSET999": "ControlSet999", "ControlSet01": "", "ControlSet00a": "", "CurrentControlSet": "", "Select": ""} {
		got, ok := ControlSetName(in)
		if got != want || ok != (want != "") {
			t.Errorf("ControlSetName(%q) = %q %v", in, got, ok)
		}
	}
}

func TestSubkey(t *testing.T) {
	for _, c := range []struct {
		key, sub string
		ok       bool
	}{
		{`HKLM\SYSTEM\CurrentControlSet\Control\Session Manager`, "", true},
		{`HKLM\System\ControlSet001\Control\Session Manager\KnownDLLs`, "knowndlls", true},
		{`\REGISTRY\MACHINE\SYSTEM\ControlSet002\Control\Session Manager\SubSystems\`, "subsystems", true},
		{`HKEY_LOCAL_MACHINE/SYSTEM/CurrentControlSet/Control/Session Manager/AppCertDlls`, "appcertdlls", true},
		{`HKLM\SYSTEM\ControlSetABC\Control\Session Manager`, "", false}, // not a control set
		{`HKLM\SYSTEM\CurrentControlSet\Control\Session Manager2`, "", false},
		{`HKLM\SOFTWARE\Control\Session Manager`, "", false},
		{`HKCU\SYSTEM\CurrentControlSet\Control\Session Manager`, "", false},
	} {
		t.Run(c.key, func(t *testing.T) {
			sub, ok := Subkey(c.key)
			if sub != c.sub || ok != c.ok {
				t.Errorf("Subkey = %q, %v; want %q, %v", sub, ok, c.sub, c.ok)
			}
		})
	}
}
