package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// recEvidence records what would go to the Windows Event Log.
type recEvidence struct {
	lines  []string
	closed bool
}

func (r *recEvidence) Info(eid uint32, msg string) error {
	r.lines = append(r.lines, "info "+itoa(eid)+" "+msg)
	return nil
}

func (r *recEvidence) Warning(eid uint32, msg string) error {
	r.lines = append(r.lines, "warning "+itoa(eid)+" "+msg)
	return nil
}

func (r *recEvidence) Close() error { r.closed = true; return nil }

func itoa(n uint32) string { return string(rune('0' + n)) }

func TestRunPipelineEvidence(t *testing.T) {
	cases := []struct {
		name   string
		blind  []string
		reason string
		want   []string
	}{
		{"clean run: start and stop", nil, "", []string{
			"info 1 smsswatch live sensor started on WS1",
			"info 2 smsswatch live sensor stopped (exit 0; 3 events, 0 sensor.blind)",
		}},
		{"blind spots and a service stop, sanitised", []string{"ETW session smsswatch stopped from outside", "evil\nline\x1b[2J"},
			"smsswatch service stopped (service control request)", []string{
				"info 1 smsswatch live sensor started on WS1",
				"warning 3 sensor.blind: ETW session smsswatch stopped from outside",
				"warning 3 sensor.blind: evil\\u000aline\\u001b[2J",
				"warning 3 sensor.blind: smsswatch service stopped (service control request)",
				"info 2 smsswatch live sensor stopped (exit 0; 3 events, 0 sensor.blind)",
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &fakeLive{events: liveScript(), blind: c.blind}
			var out bytes.Buffer
			var logs lockedBuffer
			log := zerolog.New(&logs)
			ev := &recEvidence{}
			code := runPipelineEvidence(context.Background(), testRunOptions(t, "--quiet"), src, &out, &log,
				func() string { return c.reason }, ev)
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			if len(src.events) != 3 {
				t.Fatalf("script has %d events; update the want lines", len(src.events))
			}
			if !reflect.DeepEqual(ev.lines, c.want) {
				t.Errorf("event log:\n%s\nwant:\n%s", strings.Join(ev.lines, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
