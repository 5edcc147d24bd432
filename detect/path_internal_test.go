package detect

import (
	"testing"
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
