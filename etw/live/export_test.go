package live

import (
	"context"

	"github.com/smsswatch/smsswatch/etw"
)

// TestCore exposes the live sensor's consumer to the external tests of
// this package (live_engine_test.go), which drive it into the real
// detector.
type TestCore struct{ c *liveCore }

// NewTestCore makes a consumer with the given clock.
func NewTestCore(cfg Config, enr Enricher, now func() int64) (*TestCore, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newLiveCore(cfg, enr, now)
	return &TestCore{c: c}, err
}

// Push is the ETW callback's side.
func (t *TestCore) Push(ev *etw.Event) { t.c.push(ev) }

// Snapshot hands over a snapshot as the session supervisor does.
func (t *TestCore) Snapshot(s *Snapshot, since int64) {
	t.c.send(context.Background(), liveNote{kind: noteSnapshot, snap: s, since: since})
}

// Blind reports a blind spot as a supervisor does.
func (t *TestCore) Blind(reason string) {
	t.c.send(context.Background(), liveNote{kind: noteBlind, reason: reason})
}

// Run runs the consumer until ctx ends.
func (t *TestCore) Run(ctx context.Context, h etw.Handler) { t.c.run(ctx, h) }

// Stats returns the counters.
func (t *TestCore) Stats() Stats { return t.c.stats() }
