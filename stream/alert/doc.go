// Package alert encodes a detect.Violation as smsswatch's alert document:
// one JSON object in the Elastic Common Schema (ECS, ECSVersion) with the
// MITRE ATT&CK mapping of its rule, smsswatch's own fields under
// "smsswatch" (SchemaVersion) and a one-line printable "message".
//
//	buf = alert.AppendAlert(buf[:0], v)          // no allocation when buf has room
//	buf, ok, cut := alert.AppendFit(buf[:0], v, max) // cut long fields to fit max bytes
//	sink := alert.NewLineWriter(os.Stdout, 0)     // a detect.Sink writing JSON lines
//
// Every string of the violation is attacker-controlled; whatever it holds,
// the document is valid JSON on one line. testdata/alerts.golden.jsonl
// pins the document, testdata/ecs_fields.tsv the ECS fields it uses.
package alert
