package sessmgr

import "testing"

func TestIsKey(t *testing.T) {
	for key, want := range map[string]bool{
		`HKLM\System\CurrentControlSet\Control\Session Manager`:               true,
		`HKLM\System\CurrentControlSet\Control\Session Manager\KnownDLLs`:     true,
		`HKLM\SYSTEM\ControlSet001\Control\Session Manager\Memory Management`: true,
		`\REGISTRY\MACHINE\SYSTEM\CONTROLSET003\CONTROL\SESSION MANAGER`:      true,
		`HKLM\System\CurrentControlSet\Control\Session Manager2`:              false,
		`HKLM\System\CurrentControlSet\Control\Session  Manager`:              false,
		`HKLM\System\CurrentControlSet\Services\Session Manager`:              false,
		`HKLM\System\ControlSet01\Control\Session Manager`:                    false,
		`HKLM\System\CurrentControlSet\Control\Session Manager\..\..\Other`:   true,
		`Session Manager`: false,
		``:                false,
		`HKLM\System\CurrentControlSet\Control\Session Manager\\\`:             true,
		`HKLM\System\CurrentControlSet\Control\Session Manager:ads`:            false,
		`HKLM\System\CurrentControlSet\Control\Sessi\u006Fn Manager (ascii o)`: false,
	} {
		if got := IsKey(key); got != want {
			t.Errorf("IsKey(%q) = %v", key, got)
		}
	}
}
