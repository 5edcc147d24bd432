package stream

import (
	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// SchemaVersion is the version of the alert document (smsswatch.schema_version).
// It changes only when a field is removed or changes meaning.
const SchemaVersion = 1

// AppendAlert appends the JSON alert document for v to dst and returns the
// extended buffer. The document is shaped like the Elastic Common Schema
// (ECS) so that it drops into a SIEM unchanged; smsswatch-specific data sits
// under "smsswatch". It does not allocate when dst has room, and any string
// in v (paths, command lines, host names) yields valid JSON.
func AppendAlert(dst []byte, v *detect.Violation) []byte {
	var id [16]byte
	appendHex16(id[:0], v.DedupeKey)
	rf, sf := &ruleFrags[v.Rule], &sourceFrags[v.Source]

	dst = append(dst, `{"@timestamp":`...)
	dst = appendTime(dst, v.Time)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, v.Message)
	dst = append(dst, rf.event...)
	dst = appendInt(dst, int64(v.Severity.Score()))
	dst = append(dst, sf.dataset...)
	dst = append(dst, id[:]...)
	dst = append(dst, `","count":`...)
	dst = appendUint(dst, uint64(v.Count))
	dst = append(dst, rf.rule...)
	dst = appendString(dst, v.Host)
	dst = append(dst, '}')

	if v.Process.Known != 0 {
		dst = append(dst, `,"process":`...)
		dst = appendProcess(dst, &v.Process, &v.Parent)
	}
	if p := &v.Process; p.Known&(etw.FieldUserSID|etw.FieldUserName) != 0 {
		dst = append(dst, `,"user":{`...)
		if p.Known&etw.FieldUserSID != 0 {
			dst = append(dst, `"id":`...)
			dst = appendString(dst, p.UserSID)
		}
		if p.Known&etw.FieldUserName != 0 {
			dst = appendKey(dst, "name")
			dst = appendString(dst, p.UserName)
		}
		dst = append(dst, '}')
	}
	if v.Rule == detect.RuleRegistry {
		dst = appendRegistry(dst, &v.Evidence)
	}

	dst = append(dst, `,"smsswatch":{"schema_version":`...)
	dst = appendInt(dst, SchemaVersion)
	dst = append(dst, sf.source...)
	dst = append(dst, id[:]...)
	dst = append(dst, `","count":`...)
	dst = appendUint(dst, uint64(v.Count))
	dst = appendCreator(dst, &v.Process)
	dst = append(dst, `,"evidence":`...)
	dst = appendEvidence(dst, &v.Evidence)
	return append(dst, '}', '}')
}

// ruleFragment holds the parts of an alert that depend on the rule alone,
// encoded once.
type ruleFragment struct {
	// event runs from the "event" key up to the severity value.
	event []byte
	// rule runs from the end of the event object up to the host name
	// value: rule.*, threat.* and the "host" key.
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

func init() {
	for i := range ruleFrags {
		r := detect.Rule(i)
		f := &ruleFrags[i]
		f.event = append(f.event, `,"event":{"kind":"alert","category":`...)
		switch r {
		case detect.RuleRegistry:
			f.event = append(f.event, `["registry"]`...)
		case detect.RuleSensorBlind:
			f.event = append(f.event, `["host"]`...)
		default:
			f.event = append(f.event, `["process"]`...)
		}
		f.event = append(f.event, `,"severity":`...)

		f.rule = append(f.rule, `},"rule":{"id":`...)
		f.rule = appendString(f.rule, r.ID())
		f.rule = append(f.rule, `,"name":`...)
		f.rule = appendString(f.rule, r.Name())
		f.rule = append(f.rule, `,"ruleset":"smsswatch"},"threat":{"framework":"MITRE ATT&CK","technique":{"id":[`...)
		for j, t := range r.Techniques() {
			if j > 0 {
				f.rule = append(f.rule, ',')
			}
			f.rule = appendString(f.rule, t)
		}
		f.rule = append(f.rule, `]}},"host":{"name":`...)
	}
	for i := range sourceFrags {
		name := etw.Source(i).String()
		f := &sourceFrags[i]
		f.dataset = append(f.dataset, `,"module":"smsswatch","dataset":"smsswatch.`...)
		f.dataset = etw.AppendJSONStringBody(f.dataset, name)
		f.dataset = append(f.dataset, `","id":"`...)
		f.source = append(f.source, `,"source":`...)
		f.source = appendString(f.source, name)
		f.source = append(f.source, `,"dedupe_key":"`...)
	}
}

func appendProcess(dst []byte, p, parent *detect.ProcessInfo) []byte {
	dst = append(dst, '{')
	dst = appendProcessFields(dst, p, 0)
	parentPID := p.Known&etw.FieldParentPID != 0 || parent.Known&etw.FieldPID != 0
	if parent.Known != 0 || parentPID {
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
		dst = appendProcessFields(dst, parent, etw.FieldPID)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendCreator writes smsswatch.creator: the process and user that really
// created p (ETW event header PID, creator SID), when they are known.
func appendCreator(dst []byte, p *detect.ProcessInfo) []byte {
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
		dst = appendString(dst, p.CreatorSID)
	}
	return append(dst, '}')
}

// appendProcessFields writes the ECS process fields that are known, except
// those in skip.
func appendProcessFields(dst []byte, p *detect.ProcessInfo, skip etw.Field) []byte {
	known := p.Known &^ skip
	if known&etw.FieldPID != 0 {
		dst = appendKey(dst, "pid")
		dst = appendUint(dst, uint64(p.PID))
	}
	if known&etw.FieldImage != 0 {
		dst = appendKey(dst, "executable")
		dst = appendString(dst, p.Image)
		dst = appendKey(dst, "name")
		dst = appendString(dst, etw.BaseName(p.Image))
	}
	if known&etw.FieldCommandLine != 0 {
		dst = appendKey(dst, "command_line")
		dst = appendString(dst, p.CommandLine)
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
		dst = appendString(dst, p.Key)
	}
	if known&etw.FieldSession != 0 {
		dst = appendKey(dst, "session_id")
		dst = appendUint(dst, uint64(p.Session))
	}
	return dst
}

func appendRegistry(dst []byte, ev *detect.Evidence) []byte {
	dst = appendKey(dst, "registry")
	dst = append(dst, '{')
	dst = appendKey(dst, "path")
	if ev.RegValue != "" {
		dst = appendJoined(dst, ev.RegKey, `\`, ev.RegValue)
	} else {
		dst = appendString(dst, ev.RegKey)
	}
	dst = appendKey(dst, "key")
	dst = appendString(dst, ev.RegKey)
	dst = appendKey(dst, "value")
	dst = appendString(dst, ev.RegValue)
	if ev.RegData != "" {
		dst = appendKey(dst, "data")
		dst = append(dst, `{"strings":[`...)
		dst = appendString(dst, ev.RegData)
		dst = append(dst, ']', '}')
	}
	return append(dst, '}')
}

func appendEvidence(dst []byte, ev *detect.Evidence) []byte {
	dst = append(dst, '{')
	if ev.Role != detect.RoleNone {
		dst = append(dst, `"role":`...)
		dst = appendString(dst, ev.Role.String())
	}
	if ev.Expected != "" {
		dst = appendKey(dst, "expected")
		dst = appendString(dst, ev.Expected)
	}
	if ev.Observed != "" {
		dst = appendKey(dst, "observed")
		dst = appendString(dst, ev.Observed)
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
			dst = appendString(dst, s)
		}
		dst = append(dst, ']')
	}
	if ev.RegOp != "" {
		dst = appendKey(dst, "registry_op")
		dst = appendString(dst, ev.RegOp)
	}
	if ev.RegDefault != "" {
		dst = appendKey(dst, "registry_default")
		dst = appendString(dst, ev.RegDefault)
	}
	if ev.First != 0 {
		dst = appendKey(dst, "first")
		dst = appendTime(dst, ev.First)
	}
	if ev.Last != 0 {
		dst = appendKey(dst, "last")
		dst = appendTime(dst, ev.Last)
	}
	return append(dst, '}')
}
