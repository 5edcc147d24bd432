package detect_test

import (
	"testing"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// TestRules is each rule's table: for every rule, evidence that fires it,
// and evidence that leaves it unmade (with the Gap the summary shows) or
// passes. Each case runs on a fresh Sysmon engine after a normal boot
// chain (master 404, children 500 and 584), unless it says otherwise.
func TestRules(t *testing.T) {
	const (
		child  = `\SystemRoot\System32\smss.exe 000000c8 00000084`
		master = `\SystemRoot\System32\smss.exe`
		win11  = `\SystemRoot\System32\smss.exe 00000124 000000b8 winlogon.exe {F481D527-E8FA-457D-87F9-084B51C10000}`
	)
	sysmon := etw.SourceSysmon
	withUser := func(ev etw.Event, user string) etw.Event {
		ev.Known |= etw.FieldUserName
		ev.Proc.UserName = user
		return ev
	}
	noParentImage := func(ev etw.Event) etw.Event {
		ev.Known &^= etw.FieldParentImage
		return ev
	}
	withCreator := func(ev etw.Event, creator uint32) etw.Event {
		ev.Known |= etw.FieldCreatorPID
		ev.Proc.CreatorPID = creator
		return ev
	}
	sysExit := func(sec float64, pid uint32) etw.Event {
		x := exitOf(sysmon, sec, pid)
		x.Known |= etw.FieldImage
		x.Proc.Image = sys32 + "svchost.exe"
		return x
	}
	cases := []struct {
		rule   detect.Rule
		name   string
		noBoot bool // no boot chain first
		evs    []etw.Event
		fire   bool
		gap    detect.Gap // with !fire: the gap counted, or GapNone for a pass
	}{
		{rule: detect.RuleImagePath, name: "smss.exe outside System32 fires",
			evs: []etw.Event{proc(sysmon, 60, 5000, 404, `C:\Users\Public\smss.exe`, smssImg, child)}, fire: true},
		{rule: detect.RuleImagePath, name: "a trailing-space folder fires",
			evs: []etw.Event{proc(sysmon, 60, 5000, 404, `C:\Windows \System32\smss.exe`, smssImg, child)}, fire: true},
		{rule: detect.RuleImagePath, name: "an unmapped NT device is unmade",
			evs: []etw.Event{proc(sysmon, 60, 5000, 404, `\Device\HarddiskVolume9\Windows\System32\smss.exe`, smssImg, child)}, gap: detect.GapVolume},

		{rule: detect.RuleParent, name: "started by cmd.exe fires",
			evs: []etw.Event{proc(sysmon, 60, 5000, 4100, smssImg, sys32+"cmd.exe", child)}, fire: true},
		{rule: detect.RuleParent, name: "started by an smss.exe never seen starting waits (role unknown)",
			evs: []etw.Event{proc(sysmon, 60, 5000, 4100, smssImg, smssImg, child)}, gap: detect.GapRoleUnknown},
		{rule: detect.RuleParent, name: "no parent at all is unmade",
			evs: []etw.Event{noParentImage(func() etw.Event {
				e := proc(sysmon, 60, 5000, 0, smssImg, "", child)
				e.Known &^= etw.FieldParentPID
				return e
			}())}, gap: detect.GapParent},

		{rule: detect.RuleParentSpoofed, name: "creator other than the declared parent fires",
			evs: []etw.Event{withCreator(proc(sysmon, 60, 5000, 404, smssImg, smssImg, child), 4100)}, fire: true},
		{rule: detect.RuleParentSpoofed, name: "no creator PID (Sysmon) is unmade",
			evs: []etw.Event{proc(sysmon, 60, 5000, 404, smssImg, smssImg, child)}, gap: detect.GapCreator},

		{rule: detect.RuleUser, name: "a user account fires",
			evs: []etw.Event{withUser(proc(sysmon, 60, 5000, 404, smssImg, smssImg, child), `WS01\alice`)}, fire: true},
		{rule: detect.RuleUser, name: "SYSTEM passes",
			evs: []etw.Event{withUser(proc(sysmon, 60, 5000, 404, smssImg, smssImg, child), `NT AUTHORITY\SYSTEM`)}},
		{rule: detect.RuleUser, name: "no user is unmade",
			evs: []etw.Event{proc(sysmon, 60, 5000, 404, smssImg, smssImg, child)}, gap: detect.GapUser},

		{rule: detect.RuleSecondMaster, name: "a candidate while the boot goes on fires",
			evs: []etw.Event{
				proc(sysmon, 60, 6000, 4, smssImg, "System", master),
				proc(sysmon, 90, 3444, 404, smssImg, smssImg, child),
			}, fire: true},
		{rule: detect.RuleSecondMaster, name: "a candidate that exits fires",
			evs: []etw.Event{proc(sysmon, 60, 6000, 4, smssImg, "System", master), exitOf(sysmon, 65, 6000)}, fire: true},
		{rule: detect.RuleSecondMaster, name: "a candidate with two session children is a new boot",
			evs: []etw.Event{
				proc(sysmon, 60, 6000, 4, smssImg, "System", master),
				proc(sysmon, 70, 6100, 6000, smssImg, smssImg, child),
				proc(sysmon, 70.5, 6200, 6000, smssImg, smssImg, child),
			}},
		{rule: detect.RuleSecondMaster, name: "a candidate undecided at the end is unmade",
			evs: []etw.Event{proc(sysmon, 60, 6000, 4, smssImg, "System", master)}, gap: detect.GapUndecided},

		{rule: detect.RuleLateMaster, name: "a master long after the OS start fires", noBoot: true,
			evs: []etw.Event{bootAt(0), proc(sysmon, 300, 404, 4, smssImg, "System", master)}, fire: true},
		{rule: detect.RuleLateMaster, name: "no boot time is unmade", noBoot: true,
			evs: []etw.Event{proc(sysmon, 300, 404, 4, smssImg, "System", master)}, gap: detect.GapBootTime},

		{rule: detect.RulePersistentChild, name: "a child alive past its window with exit delivery proven fires",
			evs: []etw.Event{sysExit(50, 9000), proc(sysmon, 60, 3444, 404, smssImg, smssImg, child), sysExit(120, 9001)}, fire: true},
		{rule: detect.RulePersistentChild, name: "no exit delivered after the deadline is unmade",
			evs: []etw.Event{sysExit(50, 9000), proc(sysmon, 60, 3444, 404, smssImg, smssImg, child)}, gap: detect.GapExitsAfter},
		{rule: detect.RulePersistentChild, name: "no exit delivered before the start is unmade",
			evs: []etw.Event{proc(sysmon, 60, 3444, 404, smssImg, smssImg, child), sysExit(120, 9001)}, gap: detect.GapExitsBefore},

		{rule: detect.RuleUnexpectedChild, name: "the master starting cmd.exe fires",
			evs: []etw.Event{proc(sysmon, 60, 5000, 404, sys32+"cmd.exe", smssImg, "cmd.exe")}, fire: true},
		{rule: detect.RuleUnexpectedChild, name: "an smss.exe of unknown role starting cmd.exe fires", noBoot: true,
			evs: []etw.Event{proc(sysmon, 60, 5000, 300, sys32+"cmd.exe", smssImg, "cmd.exe")}, fire: true},
		{rule: detect.RuleUnexpectedChild, name: "a lookalike smss.exe (Cyrillic dze) of unknown role starting cmd.exe fires", noBoot: true,
			evs: []etw.Event{proc(sysmon, 60, 5000, 300, sys32+"cmd.exe", sys32+"\u0455mss.exe", "cmd.exe")}, fire: true},
		{rule: detect.RuleUnexpectedChild, name: "an smss.exe parent named with a stream starting cmd.exe fires", noBoot: true,
			evs: []etw.Event{proc(sysmon, 60, 5000, 300, sys32+"cmd.exe", smssImg+":x", "cmd.exe")}, fire: true},
		{rule: detect.RuleUnexpectedChild, name: "a parent named xsmss.exe is no smss.exe: cmd.exe passes", noBoot: true,
			evs: []etw.Event{proc(sysmon, 60, 5000, 300, sys32+"cmd.exe", sys32+"xsmss.exe", "cmd.exe")}},
		{rule: detect.RuleUnexpectedChild, name: "an smss.exe of unknown role starting autochk.exe passes", noBoot: true,
			evs: []etw.Event{proc(sysmon, 60, 5000, 300, sys32+"autochk.exe", smssImg, "autochk.exe *")}},

		{rule: detect.RuleCommandLine, name: "a child with a script argument fires",
			evs: []etw.Event{proc(sysmon, 60, 3444, 404, smssImg, smssImg, child+` C:\x.ps1`)}, fire: true},
		{rule: detect.RuleCommandLine, name: "the Windows 11 child shape passes",
			evs: []etw.Event{proc(sysmon, 60, 3444, 404, smssImg, smssImg, win11)}},
		{rule: detect.RuleCommandLine, name: "no command line is unmade",
			evs: []etw.Event{proc(sysmon, 60, 3444, 404, smssImg, smssImg, "")}, gap: detect.GapCommandLine},

		{rule: detect.RuleSessionChain, name: "winlogon.exe started by the master fires",
			evs: []etw.Event{proc(sysmon, 60, 5000, 404, sys32+"winlogon.exe", smssImg, "")}, fire: true},
		{rule: detect.RuleSessionChain, name: "winlogon.exe from an smss.exe of unknown role waits", noBoot: true,
			evs: []etw.Event{proc(sysmon, 60, 5000, 300, sys32+"autochk.exe", smssImg, ""), proc(sysmon, 61, 5004, 300, sys32+"winlogon.exe", smssImg, "")},
			gap: detect.GapRoleUnknown},
		{rule: detect.RuleRegistry, name: "a BootExecute value set by reg.exe fires",
			evs: []etw.Event{regSet(60, `BootExecute`, "autocheck autochk *\x00evil.exe", sys32+"reg.exe")}, fire: true},
		{rule: detect.RuleRegistry, name: "the default BootExecute written by smss.exe passes",
			evs: []etw.Event{regSet(60, `BootExecute`, "autocheck autochk *", smssImg)}},
	}
	for _, tc := range cases {
		t.Run(tc.rule.ID()+"/"+tc.name, func(t *testing.T) {
			e, rec := newEngine(t, detect.DefaultConfig(), sysmon)
			if !tc.noBoot {
				bootChain(e, sysmon, true)
			}
			base := e.Stats().Unevaluated[tc.rule]
			for i := range tc.evs {
				e.Handle(&tc.evs[i])
			}
			e.Advance(at(400))
			e.Flush()
			fired := rec.count(tc.rule) > 0
			if fired != tc.fire {
				for _, v := range rec.got {
					t.Logf("%s: %s", v.Rule.ID(), v.Message)
				}
				t.Fatalf("%s fired: %v, want %v", tc.rule.ID(), fired, tc.fire)
			}
			if !tc.fire && tc.gap != detect.GapNone {
				if got := e.Stats().Unevaluated[tc.rule][tc.gap] - base[tc.gap]; got == 0 {
					t.Fatalf("not made, but %q not counted: %v", tc.gap, e.Stats().Unevaluated[tc.rule])
				}
			}
		})
	}
}

// bootAt is a Kernel-General 12 boot record naming the OS start at sec.
func bootAt(sec float64) etw.Event {
	ev := etw.Event{Time: at(sec), Kind: etw.KindBoot, Source: etw.SourceSysmon, Host: "HOST1", Known: etw.FieldBootTime}
	ev.Boot.BootTime = at(sec)
	return ev
}

// regSet is a Sysmon 13 write of a Session Manager value by image.
func regSet(sec float64, value, data, image string) etw.Event {
	ev := etw.Event{Time: at(sec), Kind: etw.KindRegistry, Source: etw.SourceSysmon, Host: "HOST1",
		Known: etw.FieldImage}
	ev.Reg.Op = etw.RegOpSetValue
	ev.Reg.Key = `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager`
	ev.Reg.Value = value
	ev.Reg.Data = data
	ev.Reg.Image = image
	return ev
}

// TestRuleSensorBlind is sensor.blind's table: every reason the live
// sensor gives is one alert, the same reason again within its second is
// the same alert (its dedupe key), and a disabled rule is counted.
func TestRuleSensorBlind(t *testing.T) {
	cases := []struct {
		name    string
		reasons []string
		want    int
	}{
		{"one reason", []string{"session stopped from outside"}, 1},
		{"two reasons", []string{"session stopped from outside", "12 events lost"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceETW)
			for _, r := range tc.reasons {
				e.Blind(at(10), r)
			}
			e.Flush()
			if got := rec.count(detect.RuleSensorBlind); got != tc.want {
				t.Fatalf("%d sensor.blind, want %d", got, tc.want)
			}
			keys := map[uint64]bool{}
			for _, v := range rec.got {
				keys[v.DedupeKey] = true
			}
			if len(keys) != tc.want {
				t.Fatalf("%d dedupe keys for %d reasons", len(keys), tc.want)
			}
		})
	}
}
