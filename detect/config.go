package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid configuration")

// Config is the detector's configuration: one value, passed in, never global.
type Config struct {
	// SystemRoot is the Windows folder, e.g. C:\Windows (live: read from
	// the system). Drive letter and case do not matter.
	SystemRoot string
	// ChildWindow is how long a session child may live (smss.persistent_child).
	ChildWindow time.Duration
	// LateMasterAfter is how long after boot the master may start
	// (smss.late_master).
	LateMasterAfter time.Duration
	// BootConfirmWindow is, in recorded data, how far from a master
	// candidate's start (parent System while the master lives) a boot
	// record may be and still confirm it as a new boot.
	BootConfirmWindow time.Duration
	// MasterAllow names what the master may start (file names).
	MasterAllow []string
	// ChildAllow names what a session child may start (file names).
	ChildAllow []string
	// BootExecute lists the BootExecute / SetupExecute programs of the
	// running baseline; the master may start them too.
	BootExecute []string
	// Disabled lists rules that never fire.
	Disabled []Rule
	// Severity overrides rule severities.
	Severity map[Rule]Severity
	// MaxInstances caps the smss.exe instances tracked per engine.
	MaxInstances int
	// AggregateAfter is how many alerts of one rule on one host pass within
	// AggregateWindow before further ones are folded into one aggregated
	// alert with a count.
	AggregateAfter int
	// AggregateWindow is the aggregation period.
	AggregateWindow time.Duration
	// History is how many retired smss.exe instances an engine remembers
	// for Report (hunt's summary and tree). 0, the default for the live
	// sensor, keeps none and costs nothing per instance.
	History int
	// ConfirmRunning, when set, is asked at a live session child's
	// deadline (smss.persistent_child, source ETW only; never per event)
	// whether the process pid created at createTime (Unix ns, the
	// instance's creation time as the source gave it; 0 when the source
	// gave none) is still running on this host: running that it is,
	// known that the answer is certain. known && !running means the child
	// exited and its exit record was lost: the rule does not fire and the
	// check is counted unmade (GapExitLost). known && running, !known, or
	// a nil hook (recorded data, tests) fire as without it. The live
	// sensor provides one (live.Sensor.Confirmer). It is called from the
	// engine's goroutine; it is not part of the configuration file.
	ConfirmRunning func(pid uint32, createTime int64) (running, known bool)
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		SystemRoot:        `C:\Windows`,
		ChildWindow:       30 * time.Second,
		LateMasterAfter:   120 * time.Second,
		BootConfirmWindow: 120 * time.Second,
		MasterAllow:       []string{"smss.exe", "autochk.exe", "setupcl.exe", "wpbbin.exe", "poqexec.exe", "WerFault.exe"},
		ChildAllow:        []string{"csrss.exe", "wininit.exe", "winlogon.exe", "WerFault.exe"},
		MaxInstances:      4096,
		AggregateAfter:    20,
		AggregateWindow:   time.Minute,
	}
}

// Validate reports the first invalid setting, naming its key.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
	}
	if _, ok := systemRootDir(c.SystemRoot); !ok {
		return bad("system_root", "%q is not a Windows folder like C:\\Windows", c.SystemRoot)
	}
	if c.AllDisabled() {
		return bad("disabled_rules", "every rule is disabled, sensor.blind too: the sensor could report nothing")
	}
	if c.ChildWindow <= 0 {
		return bad("child_window", "must be positive, got %v", c.ChildWindow)
	}
	if c.LateMasterAfter <= 0 {
		return bad("late_master_after", "must be positive, got %v", c.LateMasterAfter)
	}
	if c.BootConfirmWindow <= 0 {
		return bad("boot_confirm_window", "must be positive, got %v", c.BootConfirmWindow)
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"allow_master", c.MasterAllow}, {"allow_child", c.ChildAllow}, {"boot_execute", c.BootExecute}} {
		for _, n := range list.names {
			if strings.TrimSpace(n) == "" || strings.ContainsAny(n, `\/`) {
				return bad(list.key, "%q must be a file name like csrss.exe", n)
			}
		}
	}
	for _, r := range c.Disabled {
		if r == RuleNone || r >= numRules {
			return bad("disabled_rules", "unknown rule %d", r)
		}
	}
	for r, s := range c.Severity {
		if r == RuleNone || r >= numRules {
			return bad("severity", "unknown rule %d", r)
		}
		if s == SeverityUnknown || s > SeverityCritical {
			return bad("severity", "%s: unknown severity %d", r, s)
		}
	}
	if c.MaxInstances < 8 {
		return bad("max_instances", "must be at least 8, got %d", c.MaxInstances)
	}
	if c.AggregateAfter < 1 {
		return bad("aggregate_after", "must be at least 1, got %d", c.AggregateAfter)
	}
	if c.History < 0 {
		return bad("history", "must not be negative, got %d", c.History)
	}
	if c.AggregateWindow <= 0 {
		return bad("aggregate_window", "must be positive, got %v", c.AggregateWindow)
	}
	return nil
}

// configFile is the JSON form of Config. Durations are Go durations
// ("30s"), rules are rule IDs.
type configFile struct {
	SystemRoot        *string           `json:"system_root"`
	ChildWindow       *string           `json:"child_window"`
	LateMasterAfter   *string           `json:"late_master_after"`
	BootConfirmWindow *string           `json:"boot_confirm_window"`
	MasterAllow       []string          `json:"allow_master"`
	ChildAllow        []string          `json:"allow_child"`
	BootExecute       []string          `json:"boot_execute"`
	Disabled          []string          `json:"disabled_rules"`
	Severity          map[string]string `json:"severity"`
	MaxInstances      *int              `json:"max_instances"`
	AggregateAfter    *int              `json:"aggregate_after"`
	AggregateWindow   *string           `json:"aggregate_window"`
	History           *int              `json:"history"`
}

// LoadConfig reads a JSON configuration file over the defaults. Keys left
// out keep their defaults; an unknown key or a bad value is an error naming
// the key.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := cfg.ApplyJSON(data); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ApplyJSON sets the keys present in data (the configuration file format)
// and validates the result.
func (c *Config) ApplyJSON(data []byte) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM (Notepad writes one)
	if err := checkTopLevel(data); err != nil {
		return err
	}
	var f configFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	dur := func(key string, s *string, into *time.Duration) error {
		if s == nil {
			return nil
		}
		d, err := time.ParseDuration(*s)
		if err != nil {
			return fmt.Errorf("%w: %s: %q is not a duration like 30s", ErrConfig, key, *s)
		}
		*into = d
		return nil
	}
	if f.SystemRoot != nil {
		c.SystemRoot = *f.SystemRoot
	}
	for _, d := range []struct {
		key  string
		s    *string
		into *time.Duration
	}{
		{"child_window", f.ChildWindow, &c.ChildWindow},
		{"late_master_after", f.LateMasterAfter, &c.LateMasterAfter},
		{"boot_confirm_window", f.BootConfirmWindow, &c.BootConfirmWindow},
		{"aggregate_window", f.AggregateWindow, &c.AggregateWindow},
	} {
		if err := dur(d.key, d.s, d.into); err != nil {
			return err
		}
	}
	if f.MasterAllow != nil {
		c.MasterAllow = f.MasterAllow
	}
	if f.ChildAllow != nil {
		c.ChildAllow = f.ChildAllow
	}
	if f.BootExecute != nil {
		c.BootExecute = f.BootExecute
	}
	for _, id := range f.Disabled {
		r, err := ParseRule(id)
		if err != nil {
			return fmt.Errorf("%w: disabled_rules: %v", ErrConfig, err)
		}
		c.Disabled = append(c.Disabled, r)
	}
	for id, name := range f.Severity {
		r, err := ParseRule(id)
		if err != nil {
			return fmt.Errorf("%w: severity: %v", ErrConfig, err)
		}
		s, err := ParseSeverity(name)
		if err != nil {
			return fmt.Errorf("%w: severity.%s: %v", ErrConfig, id, err)
		}
		if c.Severity == nil {
			c.Severity = map[Rule]Severity{}
		}
		c.Severity[r] = s
	}
	for _, n := range []struct {
		s    *int
		into *int
	}{{f.MaxInstances, &c.MaxInstances}, {f.AggregateAfter, &c.AggregateAfter}, {f.History, &c.History}} {
		if n.s != nil {
			*n.into = *n.s
		}
	}
	return c.Validate()
}

// checkTopLevel requires the configuration to be one JSON object with no
// key given twice (encoding/json would silently keep the last).
func checkTopLevel(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w: the configuration must be a JSON object, not %v", ErrConfig, tok)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("%w: %s: given twice", ErrConfig, key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrConfig, key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the configuration object", ErrConfig)
	}
	return nil
}

// AllDisabled reports whether the configuration disables every rule,
// sensor.blind included: a sensor that can say nothing.
func (c *Config) AllDisabled() bool {
	off := [numRules]bool{}
	for _, r := range c.Disabled {
		if r < numRules {
			off[r] = true
		}
	}
	for r := Rule(1); r < numRules; r++ {
		if !off[r] {
			return false
		}
	}
	return true
}
