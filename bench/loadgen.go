package bench

import (
	"strconv"

	"github.com/smsswatch/smsswatch/etw"
)

// LoadGen generates a realistic busy-host event stream, deterministically:
// bursts of process starts and exits from a pool of ordinary programs with
// PID reuse, an RDP session child (csrss, winlogon, exit) coming and going
// every so often, and, when Attacks is set, an impostor smss.exe now and
// then. Strings are shared, so generating allocates nothing.
type LoadGen struct {
	// Host names the host in every event.
	Host string
	// BurstSize is how many starts a burst holds (then as many exits).
	BurstSize int
	// BurstGap is the event-time gap between bursts, ns.
	BurstGap int64
	// SessionEvery is how many bursts pass between RDP logons.
	SessionEvery int
	// AttackEvery is how many bursts pass between attacks (0: none).
	AttackEvery int

	t       int64
	seq     []etw.Event
	pos     int
	burst   int
	live    []uint32
	nextPID uint32
	key     uint64
	keys    []string
}

// benign images of a busy host.
var loadImages = []string{
	`\Device\HarddiskVolume3\Windows\System32\svchost.exe`,
	`\Device\HarddiskVolume3\Windows\System32\conhost.exe`,
	`\Device\HarddiskVolume3\Program Files\Google\Chrome\Application\chrome.exe`,
	`\Device\HarddiskVolume3\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
	`\Device\HarddiskVolume3\Windows\System32\cmd.exe`,
	`\Device\HarddiskVolume3\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`,
	`\Device\HarddiskVolume3\Windows\System32\backgroundTaskHost.exe`,
	`\Device\HarddiskVolume3\Windows\System32\RuntimeBroker.exe`,
}

const (
	loadSys32 = `\Device\HarddiskVolume3\Windows\System32\`
	loadSmss  = loadSys32 + "smss.exe"
)

// NewLoadGen returns a generator of a busy host's events starting at t0
// (Unix ns), after a normal boot.
func NewLoadGen(host string, t0 int64) *LoadGen {
	g := &LoadGen{Host: host, BurstSize: 2000, BurstGap: 1e9, SessionEvery: 5, AttackEvery: 20, t: t0, nextPID: 1000}
	g.keys = make([]string, 4096)
	for i := range g.keys {
		g.keys[i] = strconv.Itoa(100000 + i)
	}
	g.boot()
	return g
}

func (g *LoadGen) ev(kind etw.Kind, pid, ppid uint32, image, parentImage, cmd string, session uint32) {
	g.t += 1000
	e := etw.Event{Time: g.t, Kind: kind, Source: etw.SourceETW, Host: g.Host}
	e.Known = etw.FieldPID
	e.Proc.PID = pid
	if kind == etw.KindStart {
		e.Known |= etw.FieldParentPID | etw.FieldCreatorPID | etw.FieldImage | etw.FieldSession | etw.FieldCreateTime |
			etw.FieldUserSID | etw.FieldCreatorSID | etw.FieldKey
		e.Proc.ParentPID, e.Proc.CreatorPID, e.Proc.Image, e.Proc.Session = ppid, ppid, image, session
		e.Proc.CreateTime = g.t
		e.Proc.UserSID, e.Proc.CreatorSID = "S-1-5-18", "S-1-5-18"
		g.key++
		e.Proc.Key = g.keys[g.key%uint64(len(g.keys))]
		if parentImage != "" {
			e.Known |= etw.FieldParentImage
			e.Proc.ParentImage = parentImage
		}
		if cmd != "" {
			e.Known |= etw.FieldCommandLine
			e.Proc.CommandLine = cmd
		}
	}
	g.seq = append(g.seq, e)
}

// boot queues a normal boot.
func (g *LoadGen) boot() {
	b := etw.Event{Time: g.t, Kind: etw.KindBoot, Source: etw.SourceETW, Host: g.Host, Known: etw.FieldBootTime}
	b.Boot = etw.Boot{BootTime: g.t, SystemRoot: `C:\Windows`, SystemDevice: `\Device\HarddiskVolume3`}
	g.seq = append(g.seq, b)
	g.t += 2e9
	g.ev(etw.KindStart, 404, 4, loadSmss, "System", `\SystemRoot\System32\smss.exe`, 0)
	g.session(500, 0)
	g.session(584, 1)
}

// session queues one session child's life.
func (g *LoadGen) session(pid uint32, session uint32) {
	g.ev(etw.KindStart, pid, 404, loadSmss, loadSmss, `\SystemRoot\System32\smss.exe 000000d4 00000084 `, session)
	g.ev(etw.KindStart, pid+4, pid, loadSys32+"csrss.exe", loadSmss, "csrss.exe", session)
	if session == 0 {
		g.ev(etw.KindStart, pid+8, pid, loadSys32+"wininit.exe", loadSmss, "wininit.exe", session)
	} else {
		g.ev(etw.KindStart, pid+8, pid, loadSys32+"winlogon.exe", loadSmss, "winlogon.exe", session)
	}
	g.ev(etw.KindExit, pid, 0, "", "", "", 0)
}

// refill queues the next burst.
func (g *LoadGen) refill() {
	g.seq, g.pos = g.seq[:0], 0
	g.burst++
	g.t += g.BurstGap
	for i := 0; i < g.BurstSize; i++ {
		g.nextPID += 4
		if g.nextPID > 60000 {
			g.nextPID = 1000 // PIDs come back: reuse
		}
		g.ev(etw.KindStart, g.nextPID, 3120, loadImages[i%len(loadImages)], `\Device\HarddiskVolume3\Windows\explorer.exe`, "", 1)
		g.live = append(g.live, g.nextPID)
	}
	for _, pid := range g.live {
		g.ev(etw.KindExit, pid, 0, "", "", "", 0)
	}
	g.live = g.live[:0]
	if g.SessionEvery > 0 && g.burst%g.SessionEvery == 0 {
		g.session(61000+uint32(g.burst%100)*12, uint32(2+g.burst%50))
	}
	if g.AttackEvery > 0 && g.burst%g.AttackEvery == 0 {
		g.ev(etw.KindStart, 62000+uint32(g.burst%100)*4, 4424, `C:\Users\Public\smss.exe`, `C:\Windows\System32\cmd.exe`, "smss.exe", 1)
	}
}

// Next fills ev with the next event.
func (g *LoadGen) Next(ev *etw.Event) {
	if g.pos >= len(g.seq) {
		g.refill()
	}
	*ev = g.seq[g.pos]
	g.pos++
}
