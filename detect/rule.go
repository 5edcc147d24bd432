package detect

import "fmt"

// Rule is one rule of the detection contract (DETECTION.md).
type Rule uint8

// The rules, in the order of DETECTION.md.
const (
	// RuleNone is the zero Rule.
	RuleNone Rule = iota
	// RuleImagePath: smss.exe runs from anywhere but <SystemRoot>\System32.
	RuleImagePath
	// RuleParent: an smss.exe whose parent is neither System nor the master.
	RuleParent
	// RuleParentSpoofed: the creator of an smss.exe is not its declared parent.
	RuleParentSpoofed
	// RuleUser: an smss.exe running as, or created by, anyone but SYSTEM.
	RuleUser
	// RuleSecondMaster: a second master while the first is alive.
	RuleSecondMaster
	// RuleLateMaster: the master starts long after boot.
	RuleLateMaster
	// RulePersistentChild: a session child alive past child_window.
	RulePersistentChild
	// RuleUnexpectedChild: an smss.exe starts a process outside its allow-list.
	RuleUnexpectedChild
	// RuleCommandLine: an smss.exe command line without its role's shape.
	RuleCommandLine
	// RuleSessionChain: csrss/wininit/winlogon started by a non-child parent.
	RuleSessionChain
	// RuleRegistry: a Session Manager persistence value written or changed.
	RuleRegistry
	// RuleSensorBlind: the live ETW session stopped or lost events.
	RuleSensorBlind

	numRules
)

// NumRules is the number of rules, for tables indexed by Rule.
const NumRules = int(numRules)

// Severity is an alert's severity.
type Severity uint8

// Severities, lowest first.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "low", "medium", "high", "critical"}

// String returns the severity's name.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "unknown"
}

// Score is the ECS event.severity number (0-100) for s.
func (s Severity) Score() int {
	return [...]int{0, 21, 47, 73, 99}[s%5]
}

// ParseSeverity is the inverse of Severity.String.
func ParseSeverity(name string) (Severity, error) {
	for i := 1; i < len(severityNames); i++ {
		if severityNames[i] == name {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (want low, medium, high or critical)", name)
}

// ruleInfo is the static description of a rule.
type ruleInfo struct {
	id         string
	name       string
	techniques []string
	severity   Severity
}

// Technique lists are shared, read-only slices: violations point at them.
var (
	techMasquerade  = []string{"T1036.005"}
	techPPID        = []string{"T1134.004"}
	techHollowing   = []string{"T1055.012"}
	techBootExecute = []string{"T1547.001"}
	techInjection   = []string{"T1055"}
	techRegistry    = []string{"T1547.001", "T1546.009"}
	techImpair      = []string{"T1562.006"}
)

var rules = [numRules]ruleInfo{
	RuleNone:            {"none", "none", nil, SeverityUnknown},
	RuleImagePath:       {"smss.image_path", "smss.exe outside System32", techMasquerade, SeverityHigh},
	RuleParent:          {"smss.parent", "smss.exe with an unexpected parent", techMasquerade, SeverityHigh},
	RuleParentSpoofed:   {"smss.parent_spoofed", "smss.exe with a spoofed parent", techPPID, SeverityHigh},
	RuleUser:            {"smss.user", "smss.exe not run by SYSTEM", techMasquerade, SeverityHigh},
	RuleSecondMaster:    {"smss.second_master", "second smss.exe master", techMasquerade, SeverityHigh},
	RuleLateMaster:      {"smss.late_master", "smss.exe master started late", techMasquerade, SeverityMedium},
	RulePersistentChild: {"smss.persistent_child", "smss.exe session child did not exit", techHollowing, SeverityHigh},
	RuleUnexpectedChild: {"smss.unexpected_child", "smss.exe started an unexpected process", techInjection, SeverityHigh},
	RuleCommandLine:     {"smss.command_line", "smss.exe command line out of shape", techMasquerade, SeverityMedium},
	RuleSessionChain:    {"smss.session_chain", "session process not started by an smss child", techMasquerade, SeverityHigh},
	RuleRegistry:        {"smss.registry", "Session Manager persistence value changed", techRegistry, SeverityHigh},
	RuleSensorBlind:     {"sensor.blind", "smsswatch sensor blind", techImpair, SeverityHigh},
}

// ID returns the rule's stable ID, e.g. "smss.image_path".
func (r Rule) ID() string {
	if r < numRules {
		return rules[r].id
	}
	return "none"
}

// String returns the rule's ID.
func (r Rule) String() string { return r.ID() }

// Name returns a short human name for the rule.
func (r Rule) Name() string {
	if r < numRules {
		return rules[r].name
	}
	return "none"
}

// Techniques returns the rule's ATT&CK technique IDs. The slice is shared:
// do not modify it.
func (r Rule) Techniques() []string {
	if r < numRules {
		return rules[r].techniques
	}
	return nil
}

// DefaultSeverity returns the contract's severity for the rule.
func (r Rule) DefaultSeverity() Severity {
	if r < numRules {
		return rules[r].severity
	}
	return SeverityUnknown
}

// ParseRule returns the Rule with the given ID.
func ParseRule(id string) (Rule, error) {
	for r := Rule(1); r < numRules; r++ {
		if rules[r].id == id {
			return r, nil
		}
	}
	return RuleNone, fmt.Errorf("unknown rule %q", id)
}

// AllRules returns every rule, in contract order.
func AllRules() []Rule {
	out := make([]Rule, 0, numRules-1)
	for r := Rule(1); r < numRules; r++ {
		out = append(out, r)
	}
	return out
}
