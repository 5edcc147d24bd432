package detect

import (
	"github.com/smsswatch/smsswatch/etw"
)

// Sink receives violations. The engine calls it synchronously from Handle,
// Advance, Blind or Flush; the *Violation and what it points to are only
// valid during the call (copy or encode what you keep).
type Sink interface {
	Violation(v *Violation)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(v *Violation)

// Violation calls f(v).
func (f SinkFunc) Violation(v *Violation) { f(v) }

// Detector holds a validated, compiled configuration and makes engines.
// It is safe to share between goroutines; the engines it makes are not.
type Detector struct {
	cfg         Config
	paths       pathMatcher
	masterAllow map[string]bool
	childAllow  map[string]bool
	// masterClass and childClass say whether the name of each class
	// (className) is on masterAllow and childAllow: allowedChild's
	// answer for the names the classifier already recognised.
	masterClass [numNameClasses]bool
	childClass  [numNameClasses]bool
	disabled    [numRules]bool
	severity    [numRules]Severity
}

// New validates cfg and returns a Detector for it.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root, _ := systemRootDir(cfg.SystemRoot)
	d := &Detector{
		cfg:         cfg,
		paths:       newPathMatcher(root),
		masterAllow: map[string]bool{},
		childAllow:  map[string]bool{},
	}
	for _, n := range cfg.MasterAllow {
		d.masterAllow[foldLookalike(n)] = true
	}
	for _, n := range cfg.BootExecute {
		d.masterAllow[foldLookalike(n)] = true
	}
	for _, n := range cfg.ChildAllow {
		d.childAllow[foldLookalike(n)] = true
	}
	for c := nameOther + 1; c < numNameClasses; c++ {
		d.masterClass[c] = d.masterAllow[className[c]]
		d.childClass[c] = d.childAllow[className[c]]
	}
	for _, r := range cfg.Disabled {
		d.disabled[r] = true
	}
	for r := Rule(1); r < numRules; r++ {
		d.severity[r] = r.DefaultSeverity()
		if s, ok := cfg.Severity[r]; ok {
			d.severity[r] = s
		}
	}
	return d, nil
}

// MapDevice tells the detector that NT device path dev (for example
// \Device\HarddiskVolume3) is drive (C:). The live sensor calls it at start
// for every drive; without a mapping, NT paths on a device cannot be
// compared with SystemRoot and the image check is left unevaluated.
// Call it before making engines.
func (d *Detector) MapDevice(dev, drive string) {
	d.paths.mapDevice(dev, normalizePath(drive+`\`).vol)
}

// Config returns the configuration the detector runs with.
func (d *Detector) Config() Config { return d.cfg }

// Engine returns a new engine for one (host, source): the single-threaded
// state machine that turns that source's events into violations for sink.
// Engines made this way share nothing with each other; use NewHost and
// HostEngine to give several sources of one host one boot story.
func (d *Detector) Engine(host string, src etw.Source, sink Sink) *Engine {
	return newEngine(d, d.NewHost(host), src, sink)
}
