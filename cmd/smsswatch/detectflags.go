package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/smsswatch/smsswatch/detect"
)

// detectOptions are the detector flags shared by hunt, replay and run.
type detectOptions struct {
	config          *string
	systemRoot      *string
	childWindow     *time.Duration
	lateMasterAfter *time.Duration
	disable         *string
	// history is the default for Config.History (hunt keeps a report).
	history int
}

// addDetectFlags adds --config, --system-root, --child-window,
// --late-master-after and --disable-rules to fs.
func addDetectFlags(fs *flag.FlagSet) *detectOptions {
	return &detectOptions{
		config:          stringFlag(fs, "config", "", "detector configuration file (JSON; see README)"),
		systemRoot:      stringFlag(fs, "system-root", "", `Windows folder of the watched hosts (default C:\Windows)`),
		childWindow:     durationFlag(fs, "child-window", 0, "how long a session child may live (default 30s)"),
		lateMasterAfter: durationFlag(fs, "late-master-after", 0, "how long after boot the master may start (default 2m0s)"),
		disable:         stringFlag(fs, "disable-rules", "", "comma-separated rule IDs that never fire"),
	}
}

// detector builds the detector: defaults, then the file, then flags.
func (o *detectOptions) detector() (*detect.Detector, error) {
	cfg := detect.DefaultConfig()
	if *o.config != "" {
		c, err := detect.LoadConfig(*o.config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if *o.systemRoot != "" {
		cfg.SystemRoot = *o.systemRoot
	}
	if *o.childWindow != 0 {
		cfg.ChildWindow = *o.childWindow
	}
	if *o.lateMasterAfter != 0 {
		cfg.LateMasterAfter = *o.lateMasterAfter
	}
	if *o.disable != "" {
		for _, id := range strings.Split(*o.disable, ",") {
			r, err := detect.ParseRule(strings.TrimSpace(id))
			if err != nil {
				return nil, fmt.Errorf("%w: disable_rules: %v", detect.ErrConfig, err)
			}
			cfg.Disabled = append(cfg.Disabled, r)
		}
	}
	if o.history > 0 && cfg.History == 0 {
		cfg.History = o.history
	}
	return detect.New(cfg)
}
