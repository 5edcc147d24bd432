package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/detect/recorded"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream/alert"
)

const (
	defaultReorderWindow = 15 * time.Minute
	defaultReorderMax    = 200000
)

// clock formats an event time for humans (UTC, milliseconds).
func clock(t int64) string {
	if t == 0 {
		return "?"
	}
	return time.Unix(0, t).UTC().Format("2006-01-02 15:04:05.000Z")
}

// lifetime formats how long an instance lived.
func lifetime(in *detect.InstanceReport) string {
	if in.Exit == 0 || in.Start == 0 {
		return "exit not seen"
	}
	return "lived " + time.Duration(in.Exit-in.Start).Round(time.Millisecond).String()
}

// spawnedList names what an instance started.
func spawnedList(in *detect.InstanceReport) string {
	if len(in.Spawned) == 0 {
		return "nothing seen"
	}
	parts := make([]string, 0, len(in.Spawned)+1)
	for _, s := range in.Spawned {
		name := sanitizeLine(s.Name)
		if name == "" {
			name = "?"
		}
		if s.PID != 0 {
			name += fmt.Sprintf(" (%d)", s.PID)
		}
		parts = append(parts, name)
	}
	if in.MoreSpawned > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", in.MoreSpawned))
	}
	return strings.Join(parts, ", ")
}

func ruleList(rules []detect.Rule) string {
	if len(rules) == 0 {
		return ""
	}
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = r.ID()
	}
	return "  [!] " + strings.Join(ids, " ")
}

// writeSummary prints the human summary of a recorded run.
func writeSummary(w io.Writer, rec *recorded.Pipeline, out *alert.LineWriter) {
	fmt.Fprintf(w, "smsswatch: %d file(s), %d events read, %d record(s) skipped, %d violation(s)", len(rec.Inputs()), rec.Events(), rec.Skips().Total, out.Written())
	if out.Duplicates() > 0 {
		fmt.Fprintf(w, " (%d more seen again by another source)", out.Duplicates())
	}
	var lost uint64
	for _, in := range rec.Inputs() {
		lost += uint64(in.Stats.LostRecords)
	}
	if lost > 0 {
		fmt.Fprintf(w, ", %d record(s) lost to damage", lost)
	}
	fmt.Fprintln(w)
	for _, st := range rec.Streams() {
		rep := st.Engine.Report()
		s := &rep.Stats
		fmt.Fprintf(w, "\nhost %s, source %s: %d events, %d exit record(s), %d boot(s)\n",
			sanitizeLine(rep.Host), rep.Source, s.Events[etw.KindStart]+s.Events[etw.KindExit]+s.Events[etw.KindRunning]+s.Events[etw.KindRegistry]+s.Events[etw.KindBoot], s.Exits, len(rep.Boots))
		for bi, b := range rep.Boots {
			line := fmt.Sprintf("  boot %d: %s (%s)", bi+1, clock(b.Time), b.Evidence)
			if b.BootTime != 0 {
				line += ", OS started " + clock(b.BootTime)
			}
			fmt.Fprintln(w, line)
		}
		if len(rep.Instances) == 0 {
			fmt.Fprintln(w, "  no smss.exe seen")
		}
		for i := range rep.Instances {
			in := &rep.Instances[i]
			pid := "?"
			if in.Process.Known&etw.FieldPID != 0 {
				pid = fmt.Sprint(in.Process.PID)
			}
			switch in.Role {
			case detect.RoleMaster:
				how := "started " + clock(in.Start)
				if in.Inferred {
					how = "known only as the parent of a child"
				}
				fmt.Fprintf(w, "  master pid %s, %s%s\n", pid, how, ruleList(in.Rules))
			case detect.RoleChild:
				sess := "session ?"
				if in.HasSession {
					sess = fmt.Sprintf("session %d", in.Session)
				}
				fmt.Fprintf(w, "  session child pid %s, %s, started %s, %s; started %s%s\n", pid, sess, clock(in.Start), lifetime(in), spawnedList(in), ruleList(in.Rules))
			case detect.RoleUnknown:
				how := "started " + clock(in.Start)
				if in.Inferred {
					how = "known only as the parent of a process (role unknown)"
				}
				fmt.Fprintf(w, "  smss.exe pid %s of unknown role, %s; started %s%s\n", pid, how, spawnedList(in), ruleList(in.Rules))
			default:
				img := "?"
				if in.Process.Known&etw.FieldImage != 0 {
					img = sanitizeLine(in.Process.Image)
				}
				fmt.Fprintf(w, "  rogue smss.exe pid %s (%s), started %s%s\n", pid, img, clock(in.Start), ruleList(in.Rules))
			}
		}
		if s.HistoryDropped > 0 {
			fmt.Fprintf(w, "  (%d more instances not listed)\n", s.HistoryDropped)
		}
		var fired []string
		for r := detect.Rule(1); int(r) < detect.NumRules; r++ {
			if n := s.Violations[r]; n > 0 {
				item := fmt.Sprintf("%s %d", r.ID(), n)
				if s.Aggregated[r] > 0 {
					item += fmt.Sprintf(" (+%d aggregated)", s.Aggregated[r])
				}
				fired = append(fired, item)
			}
		}
		if len(fired) == 0 {
			fmt.Fprintln(w, "  violations: none")
		} else {
			fmt.Fprintf(w, "  violations: %s\n", strings.Join(fired, ", "))
		}
		if s.Evicted > 0 || s.PIDReused > 0 {
			fmt.Fprintf(w, "  state: %d instance(s) evicted (table full), %d PID reuse(s)\n", s.Evicted, s.PIDReused)
		}
		if s.UnknownRole > 0 {
			fmt.Fprintf(w, "  %d smss.exe known only as a parent, role unknown (its start not recorded)\n", s.UnknownRole)
		}
		if s.HostBoots > 0 {
			fmt.Fprintf(w, "  %d boot(s) proven by another source of the host\n", s.HostBoots)
		}
		if s.UnplacedBoots > 0 {
			fmt.Fprintf(w, "  %d event-log start record(s) (6005) placed in no boot: no other evidence of a boot near them\n", s.UnplacedBoots)
		}
		if s.LateBoots > 0 {
			fmt.Fprintf(w, "  %d boot record(s) too old to place (out of order beyond the reorder window)\n", s.LateBoots)
		}
		if rs := st.Reorder.Stats(); rs.Late > 0 || rs.Overflow > 0 {
			fmt.Fprintf(w, "  reorder: %d record(s) arrived after later ones were released, %d released early (buffer full)\n", rs.Late, rs.Overflow)
		}
		var gaps []string
		for r := detect.Rule(1); int(r) < detect.NumRules; r++ {
			for g := detect.Gap(1); int(g) < detect.NumGaps; g++ {
				if n := s.Unevaluated[r][g]; n > 0 {
					gaps = append(gaps, fmt.Sprintf("    %s: %s (%d)", r.ID(), g, n))
				}
			}
		}
		if len(gaps) > 0 {
			fmt.Fprintln(w, "  checks not made:")
			for _, g := range gaps {
				fmt.Fprintln(w, g)
			}
		}
	}
	if n := rec.Evicted(); n > 0 {
		fmt.Fprintf(w, "\n%d (host, source) stream(s) finished early and not listed: more than the cap of streams at once\n", n)
		if rs := rec.EvictedReorder(); rs.Late > 0 || rs.Overflow > 0 {
			fmt.Fprintf(w, "  their reorder: %d record(s) arrived after later ones were released, %d released early (buffer full)\n", rs.Late, rs.Overflow)
		}
	}
	if n := rec.FirstLooks(); n > 0 {
		fmt.Fprintf(w, "\n%d input(s) read twice up to their first record: more inputs than may be open at once\n", n)
	}
	if n := rec.LateInputs(); n > 0 {
		fmt.Fprintf(w, "\n%d input(s) opened late (more inputs than may be open at once): their first records came after later ones of other inputs\n", n)
	}
	writeInputStats(w, rec.Inputs())
	if rec.Skips().Total > 0 {
		fmt.Fprintf(w, "\nrecords skipped: %d\n", rec.Skips().Total)
		reasons := make([]string, 0, len(rec.Skips().ByReason))
		for r := range rec.Skips().ByReason {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			fmt.Fprintf(w, "  %d x %s\n", rec.Skips().ByReason[r], sanitizeLine(r))
		}
		for _, n := range rec.Skips().Notes {
			fmt.Fprintf(w, "  %s\n", sanitizeLine(n))
		}
		if rec.Skips().Total > int64(len(rec.Skips().Notes)) {
			fmt.Fprintf(w, "  ... and %d more\n", rec.Skips().Total-int64(len(rec.Skips().Notes)))
		}
	}
}

// writeInputStats prints what the readers counted but did not skip: times
// taken on assumptions, and damage.
func writeInputStats(w io.Writer, inputs []recorded.Input) {
	for _, in := range inputs {
		s := in.Stats
		var notes []string
		if s.NoZone > 0 {
			notes = append(notes, fmt.Sprintf("%d record(s) with a local time and no zone, taken as UTC", s.NoZone))
		}
		if s.NoUtcTime > 0 {
			notes = append(notes, fmt.Sprintf("%d Sysmon record(s) without UtcTime (record time used)", s.NoUtcTime))
		}
		if s.BadChunks > 0 || s.MissingChunks > 0 || s.ChecksumErrors > 0 || s.LostRecords > 0 {
			notes = append(notes, fmt.Sprintf("EVTX damage: %d bad chunk(s), %d missing chunk(s), %d checksum error(s), %d record(s) lost",
				s.BadChunks, s.MissingChunks, s.ChecksumErrors, s.LostRecords))
		}
		if s.Damaged > 0 {
			notes = append(notes, fmt.Sprintf("%d damaged stream(s) (read up to the damage)", s.Damaged))
		}
		if s.MembersSkipped > 0 {
			notes = append(notes, fmt.Sprintf("%d archive member(s) not read", s.MembersSkipped))
		}
		if rs := in.Reorder; rs.Late > 0 || rs.Overflow > 0 {
			notes = append(notes, fmt.Sprintf("reorder: %d record(s) arrived after later ones were released, %d released early (buffer full)", rs.Late, rs.Overflow))
		}
		if len(notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\ninput %s:\n", sanitizeLine(in.Path))
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
}
