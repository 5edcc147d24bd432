package main

import (
	"fmt"
	"io"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/detect/recorded"
	"github.com/smsswatch/smsswatch/etw"
)

// writeTrees prints the smss process tree of every (host, source):
// System -> master -> session children -> csrss / wininit / winlogon,
// with start times, child lifetimes and violations marked.
func writeTrees(w io.Writer, rec *recorded.Pipeline) {
	for _, st := range rec.Streams() {
		rep := st.Engine.Report()
		fmt.Fprintf(w, "\n%s (%s)\n", sanitizeLine(rep.Host), rep.Source)
		writeTree(w, &rep)
	}
}

func writeTree(w io.Writer, rep *detect.Report) {
	// Instances by (boot, pid) so a master's smss.exe starts find their
	// child instance.
	type ref struct {
		boot int
		pid  uint32
	}
	children := map[ref][]int{}
	used := make([]bool, len(rep.Instances))
	for i := range rep.Instances {
		in := &rep.Instances[i]
		if in.Role == detect.RoleChild && in.Process.Known&etw.FieldPID != 0 {
			k := ref{in.Boot, in.Process.PID}
			children[k] = append(children[k], i)
		}
	}
	if len(rep.Instances) == 0 {
		fmt.Fprintln(w, "  no smss.exe seen")
		return
	}
	lastBoot := -2
	for i := range rep.Instances {
		in := &rep.Instances[i]
		if used[i] || in.Role == detect.RoleChild && in.Boot >= 0 && hasMaster(rep, in.Boot) {
			continue
		}
		if in.Boot != lastBoot {
			lastBoot = in.Boot
			if in.Boot >= 0 && in.Boot < len(rep.Boots) {
				fmt.Fprintf(w, "boot %d (%s)\n", in.Boot+1, rep.Boots[in.Boot].Evidence)
			}
			fmt.Fprintln(w, "System (4)")
		}
		used[i] = true
		fmt.Fprintf(w, "└─ %s\n", node(in))
		for si, s := range in.Spawned {
			last := si == len(in.Spawned)-1 && in.MoreSpawned == 0
			branch, pad := "├─ ", "│  "
			if last {
				branch, pad = "└─ ", "   "
			}
			// A spawned smss.exe is a session child: print its own subtree.
			var child *detect.InstanceReport
			for _, ci := range children[ref{in.Boot, s.PID}] {
				if !used[ci] {
					child, used[ci] = &rep.Instances[ci], true
					break
				}
			}
			if child != nil {
				fmt.Fprintf(w, "   %s%s\n", branch, node(child))
				for gi, g := range child.Spawned {
					gb := "├─ "
					if gi == len(child.Spawned)-1 {
						gb = "└─ "
					}
					fmt.Fprintf(w, "   %s%s%s\n", pad, gb, spawnNode(&g))
				}
				continue
			}
			fmt.Fprintf(w, "   %s%s\n", branch, spawnNode(&s))
		}
		if in.MoreSpawned > 0 {
			fmt.Fprintf(w, "   └─ ... %d more\n", in.MoreSpawned)
		}
	}
	// Children whose master was never seen.
	for i := range rep.Instances {
		if !used[i] {
			in := &rep.Instances[i]
			fmt.Fprintf(w, "?  %s\n", node(in))
			for _, g := range in.Spawned {
				fmt.Fprintf(w, "   └─ %s\n", spawnNode(&g))
			}
		}
	}
}

func hasMaster(rep *detect.Report, boot int) bool {
	for i := range rep.Instances {
		if rep.Instances[i].Role == detect.RoleMaster && rep.Instances[i].Boot == boot {
			return true
		}
	}
	return false
}

func node(in *detect.InstanceReport) string {
	pid := "?"
	if in.Process.Known&etw.FieldPID != 0 {
		pid = fmt.Sprint(in.Process.PID)
	}
	name := "smss.exe"
	if in.Process.Known&etw.FieldImage != 0 {
		name = sanitizeLine(etw.BaseName(in.Process.Image))
	}
	s := fmt.Sprintf("%s %s  %s", name, pid, in.Role)
	if in.Inferred {
		s += "  (start not seen)"
	} else {
		s += "  " + clock(in.Start)
	}
	if in.Role == detect.RoleChild {
		if in.HasSession {
			s += fmt.Sprintf("  session %d", in.Session)
		}
		s += "  " + lifetime(in)
	}
	return s + ruleList(in.Rules)
}

func spawnNode(s *detect.SpawnReport) string {
	name := sanitizeLine(s.Name)
	if name == "" {
		name = "?"
	}
	out := name
	if s.PID != 0 {
		out += fmt.Sprintf(" %d", s.PID)
	}
	out += "  " + clock(s.Time)
	if s.HasSession {
		out += fmt.Sprintf("  session %d", s.Session)
	}
	return out
}
