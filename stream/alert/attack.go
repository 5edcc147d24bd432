package alert

import "github.com/smsswatch/smsswatch/detect"

// ECSVersion is the Elastic Common Schema version the alert documents
// conform to (ecs.version). testdata/ecs_fields.tsv lists the ECS fields
// and types they use.
const ECSVersion = "9.3.0"

// attackTactic is one MITRE ATT&CK (Enterprise) tactic.
type attackTactic struct{ id, name string }

var (
	tacticPersistence = attackTactic{"TA0003", "Persistence"}
	tacticPrivEsc     = attackTactic{"TA0004", "Privilege Escalation"}
	tacticEvasion     = attackTactic{"TA0005", "Defense Evasion"}
)

// attackTechnique is one ATT&CK technique or sub-technique (id with a
// dot) and the tactics it serves.
type attackTechnique struct {
	id, name string
	tactics  []attackTactic
}

// attackTechniques are the (sub-)techniques the rules name (DETECTION.md)
// and their parent techniques, as ATT&CK Enterprise v17 names them.
var attackTechniques = []attackTechnique{
	{"T1036", "Masquerading", []attackTactic{tacticEvasion}},
	{"T1036.005", "Match Legitimate Resource Name or Location", []attackTactic{tacticEvasion}},
	{"T1134", "Access Token Manipulation", []attackTactic{tacticEvasion, tacticPrivEsc}},
	{"T1134.004", "Parent PID Spoofing", []attackTactic{tacticEvasion, tacticPrivEsc}},
	{"T1055", "Process Injection", []attackTactic{tacticEvasion, tacticPrivEsc}},
	{"T1055.012", "Process Hollowing", []attackTactic{tacticEvasion, tacticPrivEsc}},
	{"T1547", "Boot or Logon Autostart Execution", []attackTactic{tacticPersistence, tacticPrivEsc}},
	{"T1547.001", "Registry Run Keys / Startup Folder", []attackTactic{tacticPersistence, tacticPrivEsc}},
	{"T1546", "Event Triggered Execution", []attackTactic{tacticPrivEsc, tacticPersistence}},
	{"T1546.009", "AppCert DLLs", []attackTactic{tacticPrivEsc, tacticPersistence}},
	{"T1562", "Impair Defenses", []attackTactic{tacticEvasion}},
	{"T1562.006", "Indicator Blocking", []attackTactic{tacticEvasion}},
}

func lookupTechnique(id string) (attackTechnique, bool) {
	for _, t := range attackTechniques {
		if t.id == id {
			return t, true
		}
	}
	return attackTechnique{}, false
}

// techniqueURL is the ATT&CK page of a technique or sub-technique
// (T1036.005 -> .../techniques/T1036/005/).
func techniqueURL(id string) string {
	const base = "https://attack.mitre.org/techniques/"
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			return base + id[:i] + "/" + id[i+1:] + "/"
		}
	}
	return base + id + "/"
}

func tacticURL(id string) string { return "https://attack.mitre.org/tactics/" + id + "/" }

// RuleReference is rule.reference: where the rules are documented.
const RuleReference = "https://github.com/smsswatch/smsswatch/blob/main/DETECTION.md#rules"

// ruleDescriptions are rule.description, from DETECTION.md's rules table.
var ruleDescriptions = map[detect.Rule]string{
	detect.RuleImagePath:       `An smss.exe process runs from anywhere but <SystemRoot>\System32\smss.exe.`,
	detect.RuleParent:          "An smss.exe whose parent is neither System (PID 4) nor the current master smss.exe.",
	detect.RuleParentSpoofed:   "The process that really created an smss.exe (ETW event header PID) is not the parent it declares.",
	detect.RuleUser:            "An smss.exe runs as, or was created by, anyone but S-1-5-18 (SYSTEM).",
	detect.RuleSecondMaster:    "A second master smss.exe appears while the first is alive in the same boot.",
	detect.RuleLateMaster:      "The master smss.exe starts later than late_master_after (default 120 s) after boot.",
	detect.RulePersistentChild: "A session child smss.exe is still alive child_window (default 30 s) after it started.",
	detect.RuleUnexpectedChild: "An smss.exe starts a process outside its role's allow-list.",
	detect.RuleCommandLine:     "An smss.exe command line does not have its role's shape.",
	detect.RuleSessionChain:    "csrss.exe, wininit.exe or winlogon.exe is started by a known parent that is not an smss.exe session child.",
	detect.RuleRegistry:        "A Session Manager persistence value is written or differs from its default.",
	detect.RuleSensorBlind:     "The live ETW session stopped, was stopped or reconfigured from outside, or reports lost events.",
}

// ruleEvent is what event.category, event.type, event.action and
// event.outcome say for a rule.
type ruleEvent struct {
	category, typ, action, outcome string
}

func eventFor(r detect.Rule) ruleEvent {
	switch r {
	case detect.RuleRegistry:
		return ruleEvent{"registry", "change", "registry-value-changed", "success"}
	case detect.RuleSensorBlind:
		return ruleEvent{"host", "info", "sensor-blind", ""}
	case detect.RulePersistentChild:
		return ruleEvent{"process", "info", "process-did-not-exit", ""}
	case detect.RuleNone:
		return ruleEvent{"process", "info", "none", ""}
	}
	return ruleEvent{"process", "start", "process-started", "success"}
}

// appendThreat appends the threat object for the technique ids ts: every
// tactic they serve, their techniques and, for sub-techniques, the
// sub-techniques, as ECS's parallel arrays. Unknown ids are kept as
// threat.technique.id alone.
func appendThreat(dst []byte, ts []string) []byte {
	var tactics []attackTactic
	var techs, subs []attackTechnique
	var unknown []string
	addTactic := func(t attackTactic) {
		for _, x := range tactics {
			if x == t {
				return
			}
		}
		tactics = append(tactics, t)
	}
	addTech := func(list []attackTechnique, t attackTechnique) []attackTechnique {
		for _, x := range list {
			if x.id == t.id {
				return list
			}
		}
		return append(list, t)
	}
	for _, id := range ts {
		t, ok := lookupTechnique(id)
		if !ok {
			unknown = append(unknown, id)
			continue
		}
		for _, tac := range t.tactics {
			addTactic(tac)
		}
		parentID := id
		for i := 0; i < len(id); i++ {
			if id[i] == '.' {
				parentID = id[:i]
			}
		}
		if parentID != id {
			subs = addTech(subs, t)
			if p, ok := lookupTechnique(parentID); ok {
				techs = addTech(techs, p)
			} else {
				unknown = append(unknown, parentID)
			}
		} else {
			techs = addTech(techs, t)
		}
	}
	strs := func(dst []byte, n int, f func(i int) string) []byte {
		dst = append(dst, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, f(i))
		}
		return append(dst, ']')
	}
	dst = append(dst, `,"threat":{"framework":"MITRE ATT&CK"`...)
	if len(tactics) > 0 {
		dst = append(dst, `,"tactic":{"id":`...)
		dst = strs(dst, len(tactics), func(i int) string { return tactics[i].id })
		dst = append(dst, `,"name":`...)
		dst = strs(dst, len(tactics), func(i int) string { return tactics[i].name })
		dst = append(dst, `,"reference":`...)
		dst = strs(dst, len(tactics), func(i int) string { return tacticURL(tactics[i].id) })
		dst = append(dst, '}')
	}
	ids := make([]string, 0, len(techs)+len(unknown))
	for _, t := range techs {
		ids = append(ids, t.id)
	}
	ids = append(ids, unknown...)
	dst = append(dst, `,"technique":{"id":`...)
	dst = strs(dst, len(ids), func(i int) string { return ids[i] })
	if len(techs) > 0 {
		dst = append(dst, `,"name":`...)
		dst = strs(dst, len(techs), func(i int) string { return techs[i].name })
		dst = append(dst, `,"reference":`...)
		dst = strs(dst, len(techs), func(i int) string { return techniqueURL(techs[i].id) })
	}
	if len(subs) > 0 {
		dst = append(dst, `,"subtechnique":{"id":`...)
		dst = strs(dst, len(subs), func(i int) string { return subs[i].id })
		dst = append(dst, `,"name":`...)
		dst = strs(dst, len(subs), func(i int) string { return subs[i].name })
		dst = append(dst, `,"reference":`...)
		dst = strs(dst, len(subs), func(i int) string { return techniqueURL(subs[i].id) })
		dst = append(dst, '}')
	}
	return append(dst, '}', '}')
}

// threatFrag is a precomputed threat object for one technique list.
type threatFrag struct {
	ids  []string
	frag []byte
}

// threatFrags covers the technique lists the rules use; others are
// encoded on the fly (still without allocating when they are unknown).
var threatFrags []threatFrag

func addThreatFrag(ts []string) {
	if len(ts) == 0 || findThreatFrag(ts) != nil {
		return
	}
	threatFrags = append(threatFrags, threatFrag{ids: ts, frag: appendThreat(nil, ts)})
}

func findThreatFrag(ts []string) []byte {
	for i := range threatFrags {
		f := &threatFrags[i]
		if len(f.ids) != len(ts) {
			continue
		}
		same := true
		for j := range ts {
			if f.ids[j] != ts[j] {
				same = false
				break
			}
		}
		if same {
			return f.frag
		}
	}
	return nil
}

// appendThreatFor appends v's threat object.
func appendThreatFor(dst []byte, v *detect.Violation) []byte {
	ts := v.Techniques()
	if f := findThreatFrag(ts); f != nil {
		return append(dst, f...)
	}
	if len(ts) == 0 {
		return append(dst, `,"threat":{"framework":"MITRE ATT&CK"}`...)
	}
	return appendThreat(dst, ts) // not a rule's list: rare, may allocate
}
