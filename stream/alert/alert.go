package alert

import (
	"sync/atomic"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/jsonenc"
)

// SchemaVersion is the version of the alert document (smsswatch.schema_version).
// It changes only when a field is removed or changes meaning.
//
// Version 2: exact ECS (ecs.version, event.type/action/outcome,
// threat.tactic.*, technique names and sub-techniques, rule.description and
// rule.reference, host.os.type, agent.*); event.count and
// process.session_id moved to smsswatch.count and
// smsswatch.process.session_id; threat.technique.id holds techniques, the
// sub-technique ids moved to threat.technique.subtechnique.id; message is
// one printable line; smsswatch.truncated.
const SchemaVersion = 2

// AppendAlert appends the JSON alert document for v to dst and returns the
// extended buffer. The document follows the Elastic Common Schema (ECS,
// ECSVersion) so that it drops into a SIEM unchanged; smsswatch-specific
// data sits under "smsswatch". It does not allocate when dst has room, and
// any string in v (paths, command lines, host names) yields valid JSON;
// "message" is one printable line (controls escaped visibly).
func AppendAlert(dst []byte, v *detect.Violation) []byte {
	e := alertEnc{limit: -1}
	return e.appendAlert(dst, v)
}

// truncField names a string field that may be truncated to fit a
// message size limit.
type truncField uint8

const (
	fMessage truncField = iota
	fHost
	fExecutable
	fName
	fCommandLine
	fEntityID
	fParentExecutable
	fParentName
	fParentCommandLine
	fParentEntityID
	fUserID
	fUserName
	fRegPath
	fRegKey
	fRegValue
	fRegData
	fCreatorUserID
	fExpected
	fObserved
	fSpawned
	fRegOp
	fRegDefault
	fFolded
	numTruncFields
)

// truncNames are the ECS names of the truncatable fields, as listed in
// smsswatch.truncated.
var truncNames = [numTruncFields]string{
	fMessage: "message", fHost: "host.name",
	fExecutable: "process.executable", fName: "process.name",
	fCommandLine: "process.command_line", fEntityID: "process.entity_id",
	fParentExecutable: "process.parent.executable", fParentName: "process.parent.name",
	fParentCommandLine: "process.parent.command_line", fParentEntityID: "process.parent.entity_id",
	fUserID: "user.id", fUserName: "user.name",
	fRegPath: "registry.path", fRegKey: "registry.key", fRegValue: "registry.value",
	fRegData: "registry.data.strings", fCreatorUserID: "smsswatch.creator.user_id",
	fExpected: "smsswatch.evidence.expected", fObserved: "smsswatch.evidence.observed",
	fSpawned: "smsswatch.evidence.spawned", fRegOp: "smsswatch.evidence.registry_op",
	fRegDefault: "smsswatch.evidence.registry_default",
	fFolded:     "smsswatch.evidence.folded",
}

// alertEnc is the state of one encoding: the byte limit of each
// truncatable string (negative: none) and the fields it truncated.
type alertEnc struct {
	limit int
	trunc uint32
}

// cut returns s cut to the limit (at a UTF-8 boundary), noting f.
func (e *alertEnc) cut(f truncField, s string) string {
	if e.limit < 0 || len(s) <= e.limit {
		return s
	}
	e.trunc |= 1 << f
	n := e.limit
	for k := 0; k < 3 && n > 0 && n < len(s) && s[n]&0xc0 == 0x80; k++ {
		n--
	}
	return s[:n]
}

func (e *alertEnc) str(dst []byte, f truncField, s string) []byte {
	return appendString(dst, e.cut(f, s))
}

func (e *alertEnc) appendAlert(dst []byte, v *detect.Violation) []byte {
	var id [16]byte
	appendHex16(id[:0], v.DedupeKey)
	rf, sf := &ruleFrags[v.Rule], &sourceFrags[v.Source]

	dst = append(dst, `{"@timestamp":`...)
	dst = appendTime(dst, v.Time)
	dst = append(dst, `,"message":`...)
	dst = appendPrintable(dst, e.cut(fMessage, v.Message))
	dst = append(dst, rf.event...)
	dst = appendInt(dst, int64(v.Severity.Score()))
	dst = append(dst, sf.dataset...)
	dst = append(dst, id[:]...)
	dst = append(dst, rf.rule...)
	dst = appendThreatFor(dst, v)
	dst = append(dst, `,"host":{"name":`...)
	dst = e.str(dst, fHost, v.Host)
	dst = append(dst, `,"os":{"type":"windows"}}`...)

	if v.Process.Known != 0 {
		dst = append(dst, `,"process":`...)
		dst = e.appendProcess(dst, &v.Process, &v.Parent)
	}
	if p := &v.Process; p.Known&(etw.FieldUserSID|etw.FieldUserName) != 0 {
		dst = append(dst, `,"user":{`...)
		if p.Known&etw.FieldUserSID != 0 {
			dst = append(dst, `"id":`...)
			dst = e.str(dst, fUserID, p.UserSID)
		}
		if p.Known&etw.FieldUserName != 0 {
			dst = appendKey(dst, "name")
			dst = e.str(dst, fUserName, p.UserName)
		}
		dst = append(dst, '}')
	}
	if v.Rule == detect.RuleRegistry {
		dst = e.appendRegistry(dst, &v.Evidence)
	}
	dst = append(dst, *agentFrag.Load()...)

	dst = append(dst, `,"smsswatch":{"schema_version":`...)
	dst = appendInt(dst, SchemaVersion)
	dst = append(dst, sf.source...)
	dst = append(dst, id[:]...)
	dst = append(dst, `","count":`...)
	dst = appendUint(dst, uint64(v.Count))
	dst = appendSessions(dst, &v.Process, &v.Parent)
	dst = e.appendCreator(dst, &v.Process)
	dst = append(dst, `,"evidence":`...)
	dst = e.appendEvidence(dst, &v.Evidence)
	if e.trunc != 0 {
		dst = append(dst, `,"truncated":[`...)
		first := true
		for f := truncField(0); f < numTruncFields; f++ {
			if e.trunc&(1<<f) == 0 {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '"')
			dst = append(dst, truncNames[f]...)
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}', '}')
}

// ruleFragment holds the parts of an alert that depend on the rule alone,
// encoded once.
type ruleFragment struct {
	// event runs from after the message to the severity value: ecs.* and
	// event.* up to "severity".
	event []byte
	// rule runs from the end of the event id to the end of the rule
	// object.
	rule []byte
}

// sourceFragment holds the parts of an alert that depend on the source
// alone, encoded once.
type sourceFragment struct {
	// dataset runs from after the severity to the opening quote of the
	// event id.
	dataset []byte
	// source runs from after the schema version to the opening quote of
	// the dedupe key.
	source []byte
}

// ruleFrags and sourceFrags cover every value of the (uint8) types, known
// or not, so that indexing needs no check.
var (
	ruleFrags   [256]ruleFragment
	sourceFrags [256]sourceFragment
)

// Agent describes the sensor that wrote the alerts (ECS agent.*).
type Agent struct {
	// Name is agent.name (default "smsswatch").
	Name string
	// Version is agent.version (left out when empty).
	Version string
	// ID is agent.id, a stable identifier of this sensor (left out when
	// empty).
	ID string
}

// agentFrag is the encoded agent object, set by SetAgent.
var agentFrag atomic.Pointer[[]byte]

// SetAgent sets the agent.* fields of every alert encoded afterwards
// (agent.type is always "smsswatch"). Call it once at start-up.
func SetAgent(a Agent) {
	if a.Name == "" {
		a.Name = "smsswatch"
	}
	b := []byte(`,"agent":{"type":"smsswatch","name":`)
	b = appendString(b, a.Name)
	if a.Version != "" {
		b = append(b, `,"version":`...)
		b = appendString(b, a.Version)
	}
	if a.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, a.ID)
	}
	b = append(b, '}')
	agentFrag.Store(&b)
}

func init() {
	SetAgent(Agent{})
	for i := range ruleFrags {
		r := detect.Rule(i)
		f := &ruleFrags[i]
		ev := eventFor(r)
		f.event = append(f.event, `,"ecs":{"version":"`+ECSVersion+`"},"event":{"kind":"alert","category":[`...)
		f.event = appendString(f.event, ev.category)
		f.event = append(f.event, `],"type":[`...)
		f.event = appendString(f.event, ev.typ)
		f.event = append(f.event, `],"action":`...)
		f.event = appendString(f.event, ev.action)
		if ev.outcome != "" {
			f.event = append(f.event, `,"outcome":`...)
			f.event = appendString(f.event, ev.outcome)
		}
		f.event = append(f.event, `,"severity":`...)

		f.rule = append(f.rule, `"},"rule":{"id":`...)
		f.rule = appendString(f.rule, r.ID())
		f.rule = append(f.rule, `,"name":`...)
		f.rule = appendString(f.rule, r.Name())
		if d := ruleDescriptions[r]; d != "" {
			f.rule = append(f.rule, `,"description":`...)
			f.rule = appendString(f.rule, d)
			f.rule = append(f.rule, `,"reference":`...)
			f.rule = appendString(f.rule, RuleReference)
		}
		f.rule = append(f.rule, `,"ruleset":"smsswatch"}`...)
		addThreatFrag(r.Techniques())
	}
	// smss.unexpected_child's techniques depend on the role.
	for role := detect.Role(0); role < 16; role++ {
		v := detect.Violation{Rule: detect.RuleUnexpectedChild, Evidence: detect.Evidence{Role: role}}
		addThreatFrag(v.Techniques())
	}
	for i := range sourceFrags {
		name := etw.Source(i).String()
		f := &sourceFrags[i]
		f.dataset = append(f.dataset, `,"module":"smsswatch","dataset":"smsswatch.`...)
		f.dataset = jsonenc.AppendStringBody(f.dataset, name)
		f.dataset = append(f.dataset, `","id":"`...)
		f.source = append(f.source, `,"source":`...)
		f.source = appendString(f.source, name)
		f.source = append(f.source, `,"dedupe_key":"`...)
	}
}

func (e *alertEnc) appendProcess(dst []byte, p, parent *detect.ProcessInfo) []byte {
	dst = append(dst, '{')
	dst = e.appendProcessFields(dst, p, 0, false)
	parentPID := p.Known&etw.FieldParentPID != 0 || parent.Known&etw.FieldPID != 0
	if parent.Known&^etw.FieldSession != 0 || parentPID {
		dst = appendKey(dst, "parent")
		dst = append(dst, '{')
		if parentPID {
			// The parent's own record wins; the child's declared parent
			// PID is the fallback (it is the same process).
			pid := p.ParentPID
			if parent.Known&etw.FieldPID != 0 {
				pid = parent.PID
			}
			dst = appendKey(dst, "pid")
			dst = appendUint(dst, uint64(pid))
		}
		dst = e.appendProcessFields(dst, parent, etw.FieldPID, true)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendSessions writes smsswatch.process.session_id and
// smsswatch.parent.session_id (Windows session ids are not ECS fields).
func appendSessions(dst []byte, p, parent *detect.ProcessInfo) []byte {
	if p.Known&etw.FieldSession != 0 {
		dst = append(dst, `,"process":{"session_id":`...)
		dst = appendUint(dst, uint64(p.Session))
		dst = append(dst, '}')
	}
	if parent.Known&etw.FieldSession != 0 {
		dst = append(dst, `,"parent":{"session_id":`...)
		dst = appendUint(dst, uint64(parent.Session))
		dst = append(dst, '}')
	}
	return dst
}

// appendCreator writes smsswatch.creator: the process and user that really
// created p (ETW event header PID, creator SID), when they are known.
func (e *alertEnc) appendCreator(dst []byte, p *detect.ProcessInfo) []byte {
	if p.Known&(etw.FieldCreatorPID|etw.FieldCreatorSID) == 0 {
		return dst
	}
	dst = append(dst, `,"creator":{`...)
	if p.Known&etw.FieldCreatorPID != 0 {
		dst = append(dst, `"pid":`...)
		dst = appendUint(dst, uint64(p.CreatorPID))
	}
	if p.Known&etw.FieldCreatorSID != 0 {
		dst = appendKey(dst, "user_id")
		dst = e.str(dst, fCreatorUserID, p.CreatorSID)
	}
	return append(dst, '}')
}

// appendProcessFields writes the ECS process fields that are known, except
// those in skip.
func (e *alertEnc) appendProcessFields(dst []byte, p *detect.ProcessInfo, skip etw.Field, parent bool) []byte {
	fExe, fNm, fCmd, fEnt := fExecutable, fName, fCommandLine, fEntityID
	if parent {
		fExe, fNm, fCmd, fEnt = fParentExecutable, fParentName, fParentCommandLine, fParentEntityID
	}
	known := p.Known &^ skip
	if known&etw.FieldPID != 0 {
		dst = appendKey(dst, "pid")
		dst = appendUint(dst, uint64(p.PID))
	}
	if known&etw.FieldImage != 0 {
		dst = appendKey(dst, "executable")
		dst = e.str(dst, fExe, p.Image)
		dst = appendKey(dst, "name")
		dst = e.str(dst, fNm, etw.BaseName(p.Image))
	}
	if known&etw.FieldCommandLine != 0 {
		dst = appendKey(dst, "command_line")
		dst = e.str(dst, fCmd, p.CommandLine)
	}
	if known&etw.FieldCreateTime != 0 {
		dst = appendKey(dst, "start")
		dst = appendTime(dst, p.CreateTime)
	}
	if known&etw.FieldExitTime != 0 {
		dst = appendKey(dst, "end")
		dst = appendTime(dst, p.ExitTime)
	}
	if known&etw.FieldKey != 0 {
		dst = appendKey(dst, "entity_id")
		dst = e.str(dst, fEnt, p.Key)
	}
	return dst
}

func (e *alertEnc) appendRegistry(dst []byte, ev *detect.Evidence) []byte {
	dst = appendKey(dst, "registry")
	dst = append(dst, '{')
	dst = appendKey(dst, "path")
	if ev.RegValue != "" {
		k, val := ev.RegKey, ev.RegValue
		if e.limit >= 0 && len(k)+1+len(val) > e.limit {
			e.trunc |= 1 << fRegPath
			if len(k) >= e.limit {
				dst = appendString(dst, e.cutQuiet(k, e.limit))
			} else {
				dst = appendJoined(dst, k, `\`, e.cutQuiet(val, e.limit-len(k)-1))
			}
		} else {
			dst = appendJoined(dst, k, `\`, val)
		}
	} else {
		dst = e.str(dst, fRegPath, ev.RegKey)
	}
	dst = appendKey(dst, "key")
	dst = e.str(dst, fRegKey, ev.RegKey)
	dst = appendKey(dst, "value")
	dst = e.str(dst, fRegValue, ev.RegValue)
	if ev.RegData != "" {
		dst = appendKey(dst, "data")
		dst = append(dst, `{"strings":[`...)
		dst = e.str(dst, fRegData, ev.RegData)
		dst = append(dst, ']', '}')
	}
	return append(dst, '}')
}

// cutQuiet cuts s to n bytes at a UTF-8 boundary without noting a field.
func (e *alertEnc) cutQuiet(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	for k := 0; k < 3 && n > 0 && s[n]&0xc0 == 0x80; k++ {
		n--
	}
	return s[:n]
}

func (e *alertEnc) appendEvidence(dst []byte, ev *detect.Evidence) []byte {
	dst = append(dst, '{')
	if ev.Role != detect.RoleNone {
		dst = append(dst, `"role":`...)
		dst = appendString(dst, ev.Role.String())
	}
	if ev.Expected != "" {
		dst = appendKey(dst, "expected")
		dst = e.str(dst, fExpected, ev.Expected)
	}
	if ev.Observed != "" {
		dst = appendKey(dst, "observed")
		dst = e.str(dst, fObserved, ev.Observed)
	}
	if ev.Started != 0 {
		dst = appendKey(dst, "started")
		dst = appendTime(dst, ev.Started)
	}
	if ev.Window != 0 {
		dst = appendKey(dst, "window_ms")
		dst = appendInt(dst, ev.Window/1e6)
	}
	if ev.Deadline != 0 {
		dst = appendKey(dst, "deadline")
		dst = appendTime(dst, ev.Deadline)
	}
	if ev.BootTime != 0 {
		dst = appendKey(dst, "boot_time")
		dst = appendTime(dst, ev.BootTime)
	}
	if len(ev.Spawned) > 0 {
		dst = appendKey(dst, "spawned")
		dst = append(dst, '[')
		for i, s := range ev.Spawned {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.str(dst, fSpawned, s)
		}
		dst = append(dst, ']')
	}
	if ev.RegOp != "" {
		dst = appendKey(dst, "registry_op")
		dst = e.str(dst, fRegOp, ev.RegOp)
	}
	if ev.RegDefault != "" {
		dst = appendKey(dst, "registry_default")
		dst = e.str(dst, fRegDefault, ev.RegDefault)
	}
	if ev.First != 0 {
		dst = appendKey(dst, "first")
		dst = appendTime(dst, ev.First)
	}
	if ev.Last != 0 {
		dst = appendKey(dst, "last")
		dst = appendTime(dst, ev.Last)
	}
	if len(ev.Folded) > 0 {
		// An overflow aggregate: the distinct kinds it folded.
		dst = appendKey(dst, "folded")
		dst = append(dst, '[')
		for i := range ev.Folded {
			f := &ev.Folded[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"executable":`...)
			dst = e.str(dst, fFolded, f.Image)
			dst = append(dst, `,"parent_executable":`...)
			dst = e.str(dst, fFolded, f.ParentImage)
			dst = append(dst, `,"command_line":`...)
			dst = e.str(dst, fFolded, f.CommandLine)
			dst = append(dst, `,"count":`...)
			dst = appendInt(dst, int64(f.Count))
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
		if ev.MoreFolded > 0 {
			dst = appendKey(dst, "more_folded")
			dst = appendInt(dst, int64(ev.MoreFolded))
		}
	}
	return append(dst, '}')
}
