package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Heartbeat is one sensor heartbeat as a Publisher sends it on
// PREFIX.heartbeat.HOST (see Publisher for the counters' meaning).
type Heartbeat struct {
	// Timestamp is the sensor's clock when it sent the heartbeat.
	Timestamp time.Time `json:"@timestamp"`
	Host      struct {
		Name string `json:"name"`
	} `json:"host"`
	Smsswatch HeartbeatCounters `json:"smsswatch"`
}

// HeartbeatCounters is the smsswatch object of a heartbeat.
type HeartbeatCounters struct {
	SchemaVersion int    `json:"schema_version"`
	Version       string `json:"version"`
	UptimeS       int64  `json:"uptime_s"`
	// HeartbeatMS is the sensor's heartbeat period (0: not sent, older
	// sensors).
	HeartbeatMS      int64  `json:"heartbeat_ms"`
	Events           uint64 `json:"events"`
	Violations       uint64 `json:"violations"`
	Drops            uint64 `json:"drops"`
	LostEvents       uint64 `json:"lost_events"`
	QueueDepth       uint64 `json:"queue_depth"`
	Published        uint64 `json:"published"`
	PublishDrops     uint64 `json:"publish_drops"`
	PublishRejected  uint64 `json:"publish_rejected"`
	PublishQueue     uint64 `json:"publish_queue_depth"`
	Inflight         uint64 `json:"inflight"`
	Retries          uint64 `json:"retries"`
	SpoolDepth       uint64 `json:"spool_depth"`
	SpoolBytes       uint64 `json:"spool_bytes"`
	SpoolDropped     uint64 `json:"spool_dropped"`
	PublishTruncated uint64 `json:"publish_truncated"`
	PublishOversized uint64 `json:"publish_oversized"`
	ClockSteps       uint64 `json:"clock_steps"`
	CanaryMissed     uint64 `json:"canary_missed"`
	ExitsLost        uint64 `json:"exits_lost"`
}

// ErrNotHeartbeat is returned by ParseHeartbeat for a message that is not
// a heartbeat.
var ErrNotHeartbeat = errors.New("not a smsswatch heartbeat")

// ParseHeartbeat decodes a heartbeat message.
func ParseHeartbeat(data []byte) (Heartbeat, error) {
	var hb Heartbeat
	var probe struct {
		Event struct {
			Dataset string `json:"dataset"`
		} `json:"event"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return hb, fmt.Errorf("%w: %w", ErrNotHeartbeat, err)
	}
	if probe.Event.Dataset != "smsswatch.heartbeat" {
		return hb, ErrNotHeartbeat
	}
	if err := json.Unmarshal(data, &hb); err != nil {
		return hb, fmt.Errorf("%w: %w", ErrNotHeartbeat, err)
	}
	return hb, nil
}

// Fleet limits and defaults.
const (
	// FleetSilentAfter is how many heartbeat periods without one make a
	// sensor silent.
	FleetSilentAfter = 3
	// DefaultFleetMaxHosts bounds the hosts a Fleet tracks.
	DefaultFleetMaxHosts = 10000
	// Heartbeat periods announced by sensors are taken within these bounds
	// (a hostile or broken heartbeat cannot postpone its silence forever).
	minFleetPeriod = time.Millisecond
	maxFleetPeriod = time.Hour
)

// FleetHost is what a Fleet knows of one sensor.
type FleetHost struct {
	// Token is the host's subject token (the table's key); Name is the
	// host name its heartbeats carry.
	Token, Name string
	// Last is the last heartbeat (zero until one is heard).
	Last Heartbeat
	// Seen is when the last heartbeat arrived (the Fleet's clock); zero
	// for an expected host never heard.
	Seen time.Time
	// Heard counts this host's heartbeats.
	Heard uint64
	// Period is the heartbeat period used for this host's silence.
	Period time.Duration
	// Silent is set while the host is overdue.
	Silent bool
	since  time.Time // when it was added (expected hosts' silence runs from here)
}

// FleetChange is a sensor going silent or coming back.
type FleetChange struct {
	// Kind is "sensor.silent" or "sensor.back".
	Kind string
	Host FleetHost
	// At is the Fleet time of the change; Quiet is how long the host had
	// been (or is) without a heartbeat.
	At    time.Time
	Quiet time.Duration
}

// Fleet is the state of a fleet of sensors seen through their heartbeats.
// It is a pure state machine: every method takes the current time (use
// time.Now(), whose monotonic reading makes ages immune to clock jumps),
// so tests drive it with any clock. It is not safe for concurrent use.
type Fleet struct {
	// Period is the heartbeat period assumed for sensors whose heartbeats
	// do not carry theirs (default DefaultHeartbeat).
	Period time.Duration
	// MaxHosts bounds the table (default DefaultFleetMaxHosts); heartbeats
	// of further hosts are counted in Overflow and otherwise ignored. No
	// host is ever evicted: a flood of forged host names must not push a
	// real sensor out of the table and so hide its silence. Expected hosts
	// are added first and always keep their place.
	MaxHosts int

	hosts map[string]*FleetHost
	// shortest is the shortest period of any host yet (0: none), which
	// sets how often WatchFleet checks.
	shortest time.Duration
	// Unreadable counts messages that were not heartbeats or came on a
	// subject token no sensor sends on (not a SanitizeHost token); Overflow
	// the heartbeats of hosts over MaxHosts; Mismatched the heartbeats whose
	// host name does not match their subject token (shown by token).
	Unreadable, Overflow, Mismatched uint64
}

func (f *Fleet) period() time.Duration {
	if f.Period > 0 {
		return f.Period
	}
	return DefaultHeartbeat
}

func (f *Fleet) init() {
	if f.hosts == nil {
		f.hosts = make(map[string]*FleetHost)
	}
}

// Expect adds a host that must send heartbeats: until it does, it counts
// as silent once FleetSilentAfter periods have passed since now.
func (f *Fleet) Expect(name string, now time.Time) {
	f.init()
	token := SanitizeHost(name)
	if _, ok := f.hosts[token]; ok || f.full() {
		return
	}
	f.hosts[token] = &FleetHost{Token: token, Name: name, Period: f.period(), since: now}
}

func (f *Fleet) maxHosts() int {
	if f.MaxHosts > 0 {
		return f.MaxHosts
	}
	return DefaultFleetMaxHosts
}

func (f *Fleet) full() bool { return len(f.hosts) >= f.maxHosts() }

// Observe records a heartbeat message that arrived on subject at now. It
// returns a sensor.back change when the host was silent.
func (f *Fleet) Observe(subject string, data []byte, now time.Time) (FleetChange, bool) {
	f.init()
	hb, err := ParseHeartbeat(data)
	i := strings.LastIndexByte(subject, '.')
	if err != nil || i < 0 || i == len(subject)-1 {
		f.Unreadable++
		return FleetChange{}, false
	}
	token := subject[i+1:]
	if !hostToken(token) {
		f.Unreadable++
		return FleetChange{}, false
	}
	h, ok := f.hosts[token]
	if !ok {
		if f.full() {
			f.Overflow++
			return FleetChange{}, false
		}
		h = &FleetHost{Token: token, since: now}
		f.hosts[token] = h
	}
	if SanitizeHost(hb.Host.Name) == token {
		h.Name = hb.Host.Name
	} else {
		f.Mismatched++
		if h.Name == "" {
			h.Name = token
		}
	}
	quiet := now.Sub(h.Seen)
	if h.Seen.IsZero() {
		quiet = now.Sub(h.since)
	}
	h.Last, h.Seen = hb, now
	h.Heard++
	h.Period = f.period()
	if ms := hb.Smsswatch.HeartbeatMS; ms > 0 {
		// Bounded before the multiplication, which could overflow.
		ms = min(ms, int64(maxFleetPeriod/time.Millisecond))
		h.Period = max(time.Duration(ms)*time.Millisecond, minFleetPeriod)
	}
	if f.shortest == 0 || h.Period < f.shortest {
		f.shortest = h.Period
	}
	if h.Silent {
		h.Silent = false
		return FleetChange{Kind: "sensor.back", Host: *h, At: now, Quiet: quiet}, true
	}
	return FleetChange{}, false
}

// Check marks the hosts that have been without a heartbeat for more than
// FleetSilentAfter periods at now, and returns them, once per silence,
// in host order.
func (f *Fleet) Check(now time.Time) []FleetChange {
	var out []FleetChange
	for _, h := range f.hosts {
		if h.Silent {
			continue
		}
		if q := f.quiet(h, now); q > FleetSilentAfter*h.Period {
			h.Silent = true
			out = append(out, FleetChange{Kind: "sensor.silent", Host: *h, At: now, Quiet: q})
		}
	}
	// Only the changes are sorted: Check runs several times a period.
	sort.Slice(out, func(i, j int) bool { return out[i].Host.Token < out[j].Host.Token })
	return out
}

// hostToken reports whether token is one SanitizeHost can return: 1 to
// maxHostToken bytes of a-z, 0-9, '-', '_' and the '~' of a cut name.
// Other tokens (a subject token may hold any byte but space) come from no
// sensor.
func hostToken(token string) bool {
	if token == "" || len(token) > maxHostToken {
		return false
	}
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

func (f *Fleet) quiet(h *FleetHost, now time.Time) time.Duration {
	if h.Seen.IsZero() {
		return now.Sub(h.since)
	}
	return now.Sub(h.Seen)
}

// Hosts returns the hosts in table order (by token).
func (f *Fleet) Hosts() []FleetHost {
	hs := f.sorted()
	out := make([]FleetHost, len(hs))
	for i, h := range hs {
		out[i] = *h
	}
	return out
}

func (f *Fleet) sorted() []*FleetHost {
	hs := make([]*FleetHost, 0, len(f.hosts))
	for _, h := range f.hosts {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Token < hs[j].Token })
	return hs
}

// SilentCount is how many hosts are silent.
func (f *Fleet) SilentCount() int {
	n := 0
	for _, h := range f.hosts {
		if h.Silent {
			n++
		}
	}
	return n
}

// WriteTable writes the table of hosts at now: one header line and one
// line a host, every cell one word (awk-friendly). Every string from a
// heartbeat is escaped for a terminal and cannot hold a space.
func (f *Fleet) WriteTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tVERSION\tUPTIME\tEVENTS\tVIOLATIONS\tDROPS\tLOST\tCLOCK-STEPS\tCANARY-MISSED\tEXITS-LOST\tQUEUE\tSPOOL\tALERTS-DROPPED\tSEEN-AGO\tSTATUS")
	for _, h := range f.sorted() {
		c := h.Last.Smsswatch
		status := "ok"
		if h.Silent {
			status = "SILENT"
		}
		seen := "never"
		if !h.Seen.IsZero() {
			seen = fleetDuration(now.Sub(h.Seen))
		}
		version, uptime := "-", "-"
		if h.Heard > 0 {
			version = fleetCell(c.Version, 32)
			uptime = fleetDuration(time.Duration(c.UptimeS) * time.Second)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", fleetCell(h.Name, 64), version, uptime,
			c.Events, c.Violations, c.Drops, c.LostEvents, c.ClockSteps, c.CanaryMissed, c.ExitsLost, c.QueueDepth, c.SpoolDepth, c.PublishDrops+c.SpoolDropped, seen, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f.Unreadable+f.Overflow+f.Mismatched > 0 {
		_, err := fmt.Fprintf(w, "(%d message(s) not heartbeats, %d heartbeat(s) over the %d-host limit ignored, %d heartbeat(s) naming another host than their subject)\n",
			f.Unreadable, f.Overflow, f.maxHosts(), f.Mismatched)
		return err
	}
	return nil
}

// AppendChange appends one line for a change:
//
//	2025-01-02T03:04:05Z sensor.silent host="WS01" quiet=31s period=10s last_seen=2025-01-02T03:03:34Z
//
// The host is quoted with every non-ASCII or control character escaped.
func AppendChange(b []byte, c FleetChange, wall time.Time) []byte {
	b = wall.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, ' ')
	b = append(b, c.Kind...)
	b = append(b, " host="...)
	b = strconv.AppendQuoteToASCII(b, fleetTrim(c.Host.Name, 256))
	b = append(b, " quiet="...)
	if c.Host.Seen.IsZero() && c.Kind == "sensor.silent" {
		b = append(b, "never-heard"...)
	} else {
		b = append(b, fleetDuration(c.Quiet)...)
	}
	b = append(b, " period="...)
	b = append(b, fleetDuration(c.Host.Period)...)
	if !c.Host.Last.Timestamp.IsZero() {
		b = append(b, " last_seen="...)
		b = c.Host.Last.Timestamp.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	return append(b, '\n')
}

// fleetTrim cuts s to at most n bytes.
func fleetTrim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// fleetCell is s, cut to limit bytes (then ending in '~'), escaped for one
// table cell: no control, no bidi override or other invisible format
// character, no space of any kind (columns cannot be faked). Invalid UTF-8
// is written \xNN, an ASCII space \x20, the other runes \uXXXX (\UXXXXXXXX above U+FFFF).
func fleetCell(s string, limit int) string {
	if s == "" {
		return "-"
	}
	cut := len(s) > limit
	s = fleetTrim(s, limit)
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = fmt.Appendf(b, `\x%02x`, s[i])
		case r == ' ':
			b = append(b, `\x20`...)
		case r > 0xffff && unicode.In(r, unicode.Cf):
			b = fmt.Appendf(b, `\U%08x`, r)
		case dangerous(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Cf):
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	if cut {
		b = append(b, '~')
	}
	return string(b)
}

// fleetDuration renders d shortly: 850ms, 12s, 4m05s, 3h07m, 2d05h.
func fleetDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

// fleetCheckEvery is how often WatchFleet checks for silence when the
// shortest heartbeat period is p: four times a period (10 ms to 1 s), so
// that a silence is told within a quarter period after the third is over.
func fleetCheckEvery(p time.Duration) time.Duration {
	return min(max(p/4, 10*time.Millisecond), time.Second)
}

// FleetConfig configures WatchFleet.
type FleetConfig struct {
	// Conn says how to reach NATS.
	Conn ConnConfig
	// SubjectPrefix is the sensors' prefix (default "smsswatch").
	SubjectPrefix string
	// Period is the heartbeat period assumed for sensors whose heartbeats
	// do not say (default DefaultHeartbeat).
	Period time.Duration
	// Refresh is how often the table is written (default Period).
	Refresh time.Duration
	// Once, when positive, watches that long, writes the table once and
	// returns ErrSilent if any host is silent (or none was heard).
	Once time.Duration
	// Expect lists hosts that must be heard (silent until they are).
	Expect []string
	// Redraw clears the screen before each table (a terminal); otherwise
	// tables and changes are plain lines.
	Redraw bool
	// MaxHosts bounds the table (default DefaultFleetMaxHosts).
	MaxHosts int
	// Logger receives connection changes.
	Logger zerolog.Logger
	// Ready, if set, is called once the subscription is in place.
	Ready func()
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrSilent is returned by WatchFleet with Once when a host is silent or
// no heartbeat was heard at all.
var ErrSilent = errors.New("silent sensor")

// maxFleetRecent is how many changes a redrawn screen keeps below the
// table.
const maxFleetRecent = 20

// WatchFleet subscribes to PREFIX.heartbeat.* and writes the fleet's table
// to w every Refresh, and a line for each sensor that falls silent (more
// than FleetSilentAfter heartbeat periods without one) or comes back,
// until ctx is done (then it returns nil, or ctx's error with Once) or,
// with Once, after Once.
func WatchFleet(ctx context.Context, cfg FleetConfig, w io.Writer) error {
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = DefaultSubjectPrefix
	}
	if err := ValidatePrefix(cfg.SubjectPrefix); err != nil {
		return err
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultHeartbeat
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = cfg.Period
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	fleet := &Fleet{Period: cfg.Period, MaxHosts: cfg.MaxHosts}
	if fleet.MaxHosts <= 0 {
		fleet.MaxHosts = DefaultFleetMaxHosts
	}
	nc, err := Connect(cfg.Conn, cfg.Logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	ch := make(chan *nats.Msg, 4096)
	subject := cfg.SubjectPrefix + ".heartbeat.*"
	sub, err := nc.ChanSubscribe(subject, ch)
	if err != nil {
		return fmt.Errorf("stream: subscribe %s: %w", subject, err)
	}
	defer sub.Unsubscribe()
	if err := nc.FlushTimeout(cfg.Conn.timeout()); err != nil {
		return fmt.Errorf("stream: subscribe %s: %w", subject, cfg.Conn.scrub(err))
	}
	start := now()
	for _, h := range cfg.Expect {
		fleet.Expect(h, start)
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}
	every := fleetCheckEvery(cfg.Period)
	check := time.NewTicker(every)
	defer check.Stop()
	refresh := time.NewTicker(cfg.Refresh)
	defer refresh.Stop()
	var done <-chan time.Time
	if cfg.Once > 0 {
		t := time.NewTimer(cfg.Once)
		defer t.Stop()
		done = t.C
	}
	var recent []string
	var buf []byte
	tell := func(c FleetChange) error {
		buf = AppendChange(buf[:0], c, time.Now())
		if cfg.Redraw && cfg.Once <= 0 {
			if len(recent) == maxFleetRecent {
				recent = recent[1:]
			}
			recent = append(recent, string(buf))
			return nil // shown with the next table
		}
		_, err := w.Write(buf)
		return err
	}
	draw := func() error {
		var out bytes.Buffer
		t := now()
		if cfg.Redraw {
			out.WriteString("\x1b[H\x1b[2J")
		}
		fmt.Fprintf(&out, "smsswatch fleet %s: %d host(s), %d silent\n", time.Now().UTC().Format(time.RFC3339), len(fleet.hosts), fleet.SilentCount())
		if err := fleet.WriteTable(&out, t); err != nil {
			return err
		}
		if cfg.Redraw {
			for _, r := range recent {
				out.WriteString(r)
			}
		}
		_, err := w.Write(out.Bytes())
		return err
	}
	write := func(err error) error {
		if err != nil {
			return fmt.Errorf("stream: fleet output: %w", err)
		}
		return nil
	}
	observe := func(m *nats.Msg) error {
		c, ok := fleet.Observe(m.Subject, m.Data, now())
		if e := fleetCheckEvery(fleet.shortest); fleet.shortest > 0 && e < every {
			every = e
			check.Reset(every)
		}
		if ok {
			return write(tell(c))
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			if cfg.Once > 0 {
				return ctx.Err() // stopped before judging
			}
			return nil
		case m := <-ch:
			if err := observe(m); err != nil {
				return err
			}
		case <-check.C:
			for _, c := range fleet.Check(now()) {
				if err := write(tell(c)); err != nil {
					return err
				}
			}
		case <-refresh.C:
			if cfg.Once <= 0 {
				if err := write(draw()); err != nil {
					return err
				}
			}
		case <-done:
			// Take what already arrived, then judge.
			for drained := false; !drained; {
				select {
				case m := <-ch:
					if err := observe(m); err != nil {
						return err
					}
				default:
					drained = true
				}
			}
			for _, c := range fleet.Check(now()) {
				if err := write(tell(c)); err != nil {
					return err
				}
			}
			if err := write(draw()); err != nil {
				return err
			}
			if n := fleet.SilentCount(); n > 0 {
				return fmt.Errorf("%w: %d of %d host(s)", ErrSilent, n, len(fleet.hosts))
			}
			if len(fleet.hosts) == 0 {
				return fmt.Errorf("%w: no heartbeat heard on %s in %v", ErrSilent, subject, cfg.Once)
			}
			return nil
		}
	}
}
