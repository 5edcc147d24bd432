package stream

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/etw/jsonenc"
)

// TailConfig configures Tail.
type TailConfig struct {
	// Conn says how to reach NATS.
	Conn ConnConfig
	// SubjectPrefix is the publishers' prefix (default "smsswatch").
	SubjectPrefix string
	// Host and Rule select one host and/or one rule ID ("" = all).
	Host, Rule string
	// Subject, if set, is the subscription subject (overrides Host/Rule).
	Subject string
	// Durable, if set, reads through a durable JetStream consumer of that
	// name on Stream (acknowledging each alert once printed), so a tail
	// that restarts continues where it stopped. Otherwise Tail uses a core
	// NATS subscription and sees alerts from now on.
	Durable string
	// Stream is the JetStream stream (default "SMSSWATCH").
	Stream string
	// DeliverAll makes a new durable consumer start at the beginning of the
	// stream instead of at new alerts.
	DeliverAll bool
	// Heartbeats also prints sensor heartbeats (core subscription only).
	Heartbeats bool
	// JSON prints each alert as one line of JSON instead of text.
	JSON bool
	// Color adds ANSI colours to text output; set it only for a terminal.
	Color bool
	// Logger receives connection changes.
	Logger zerolog.Logger
	// Ready, if set, is called once the subscription is in place: alerts
	// published after it returns are seen.
	Ready func()
	// Printed, if set, is called after each alert is written.
	Printed func()
	// Lost, if set, is called with the total of messages a core (not
	// durable) subscription lost because this reader was too slow, each
	// time that total grows (checked every second and when Tail returns).
	// Without it the losses are logged.
	Lost func(total int)
}

// Tail prints alerts as they arrive until ctx is done (then it returns
// nil). Every string from an alert is sanitised: no terminal escape, no
// control character and no newline reaches w, in text or JSON mode.
func Tail(ctx context.Context, cfg TailConfig, w io.Writer) error {
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = DefaultSubjectPrefix
	}
	if err := ValidatePrefix(cfg.SubjectPrefix); err != nil {
		return err
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	subject := cfg.Subject
	if subject == "" {
		subject = FilterSubject(cfg.SubjectPrefix, cfg.Host, cfg.Rule)
	}
	nc, err := Connect(cfg.Conn, cfg.Logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	pr := &printer{w: w, json: cfg.JSON, color: cfg.Color, printed: cfg.Printed, heartbeats: cfg.SubjectPrefix + ".heartbeat."}
	if cfg.Durable != "" {
		return tailDurable(ctx, nc, cfg, subject, pr)
	}
	ch := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(subject, ch)
	if err != nil {
		return fmt.Errorf("stream: subscribe %s: %w", subject, err)
	}
	defer sub.Unsubscribe()
	lost := &lossReport{cfg: &cfg, subs: []*nats.Subscription{sub}}
	if cfg.Heartbeats {
		hs, err := nc.ChanSubscribe(cfg.SubjectPrefix+".heartbeat.>", ch)
		if err != nil {
			return fmt.Errorf("stream: subscribe heartbeats: %w", err)
		}
		defer hs.Unsubscribe()
		lost.subs = append(lost.subs, hs)
	}
	if err := nc.FlushTimeout(cfg.Conn.timeout()); err != nil {
		return fmt.Errorf("stream: subscribe %s: %w", subject, cfg.Conn.scrub(err))
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}
	// The check runs apart from the printing: a stuck writer is what makes
	// the losses.
	stopCheck := make(chan struct{})
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopCheck:
				lost.check()
				return
			case <-tick.C:
				lost.check()
			}
		}
	}()
	defer func() { close(stopCheck); <-checked }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-ch:
			if err := pr.print(m.Subject, m.Data); err != nil {
				return err
			}
		}
	}
}

// lossReport reports what core subscriptions dropped as a slow consumer.
type lossReport struct {
	cfg      *TailConfig
	subs     []*nats.Subscription
	reported int
}

func (l *lossReport) check() {
	total := 0
	for _, s := range l.subs {
		if n, err := s.Dropped(); err == nil {
			total += n
		}
	}
	if total <= l.reported {
		return
	}
	l.reported = total
	if l.cfg.Lost != nil {
		l.cfg.Lost(total)
		return
	}
	l.cfg.Logger.Warn().Int("lost", total).Msg("alerts lost: this reader is too slow for core NATS (use a durable consumer)")
}

func (c *ConnConfig) timeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return 2 * time.Second
}

func tailDurable(ctx context.Context, nc *nats.Conn, cfg TailConfig, subject string, pr *printer) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("stream: jetstream: %w", err)
	}
	deliver := jetstream.DeliverNewPolicy
	if cfg.DeliverAll {
		deliver = jetstream.DeliverAllPolicy
	}
	cctx, cancel := context.WithTimeout(ctx, 10*cfg.Conn.timeout())
	cons, err := js.CreateOrUpdateConsumer(cctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "smsswatch tail",
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: deliver,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("stream: durable consumer %q on stream %s: %w", cfg.Durable, cfg.Stream, cfg.Conn.scrub(err))
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("stream: consume %s: %w", cfg.Stream, err)
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("stream: consume %s: %w", cfg.Stream, err)
		}
		if err := pr.print(m.Subject(), m.Data()); err != nil {
			return err
		}
		_ = m.Ack()
	}
}

// printer writes alerts as text or JSON lines.
type printer struct {
	w       io.Writer
	json    bool
	color   bool
	buf     []byte
	printed func()
	// heartbeats is the subject prefix of heartbeats, which are not alerts.
	heartbeats string
}

// alertDoc is what Tail reads from an alert.
type alertDoc struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"`
	Event     struct {
		Kind     string `json:"kind"`
		Severity int    `json:"severity"`
		ID       string `json:"id"`
		Count    uint64 `json:"count"`
	} `json:"event"`
	Rule struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rule"`
	Host struct {
		Name string `json:"name"`
	} `json:"host"`
	Process *struct {
		PID         *uint64 `json:"pid"`
		Executable  string  `json:"executable"`
		CommandLine string  `json:"command_line"`
		Parent      *struct {
			PID        *uint64 `json:"pid"`
			Executable string  `json:"executable"`
		} `json:"parent"`
	} `json:"process"`
	User *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Registry *struct {
		Path string `json:"path"`
	} `json:"registry"`
	Smsswatch struct {
		Evidence struct {
			Role     string `json:"role"`
			Expected string `json:"expected"`
			Observed string `json:"observed"`
		} `json:"evidence"`
		// Heartbeat counters.
		Version    string `json:"version"`
		Events     uint64 `json:"events"`
		Violations uint64 `json:"violations"`
		SpoolDepth uint64 `json:"spool_depth"`
		Drops      uint64 `json:"publish_drops"`
	} `json:"smsswatch"`
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

func (p *printer) print(subject string, data []byte) error {
	b := p.buf[:0]
	if p.json {
		var err error
		b, err = appendSafeJSON(b, data)
		if err != nil {
			b = append(b, `{"smsswatch_tail_error":"not JSON","subject":`...)
			b = jsonenc.AppendString(b, subject)
			b = append(b, '}')
		}
		b = append(b, '\n')
	} else {
		b = p.appendText(b, subject, data)
	}
	p.buf = b[:0]
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("stream: tail output: %w", err)
	}
	if p.printed != nil && !strings.HasPrefix(subject, p.heartbeats) {
		p.printed()
	}
	return nil
}

func (p *printer) style(b []byte, code string) []byte {
	if p.color {
		b = append(b, code...)
	}
	return b
}

// appendText renders one alert as one or two lines.
func (p *printer) appendText(b []byte, subject string, data []byte) []byte {
	var a alertDoc
	if err := json.Unmarshal(data, &a); err != nil {
		b = append(b, "? unreadable message on "...)
		b = appendSanitized(b, subject, 200)
		return append(b, '\n')
	}
	b = appendSanitized(b, a.Timestamp, 40)
	b = append(b, ' ')
	if a.Event.Kind == "metric" {
		b = p.style(b, ansiDim)
		b = append(b, "heartbeat "...)
		b = appendSanitized(b, a.Host.Name, 256)
		b = append(b, " version="...)
		b = appendSanitized(b, a.Smsswatch.Version, 64)
		b = append(b, " events="...)
		b = strconv.AppendUint(b, a.Smsswatch.Events, 10)
		b = append(b, " violations="...)
		b = strconv.AppendUint(b, a.Smsswatch.Violations, 10)
		b = append(b, " spool="...)
		b = strconv.AppendUint(b, a.Smsswatch.SpoolDepth, 10)
		b = append(b, " drops="...)
		b = strconv.AppendUint(b, a.Smsswatch.Drops, 10)
		b = p.style(b, ansiReset)
		return append(b, '\n')
	}
	sev := severityName(a.Event.Severity)
	switch sev {
	case "CRITICAL", "HIGH":
		b = p.style(b, ansiBold+ansiRed)
	case "MEDIUM":
		b = p.style(b, ansiYellow)
	}
	b = append(b, sev...)
	b = p.style(b, ansiReset)
	b = append(b, ' ')
	b = p.style(b, ansiBold)
	b = appendSanitized(b, a.Rule.ID, 64)
	b = p.style(b, ansiReset)
	b = append(b, " host="...)
	b = appendSanitized(b, a.Host.Name, 256)
	if pr := a.Process; pr != nil {
		if pr.PID != nil {
			b = append(b, " pid="...)
			b = strconv.AppendUint(b, *pr.PID, 10)
		}
		if pr.Executable != "" {
			b = append(b, ' ')
			b = appendSanitized(b, pr.Executable, 1024)
		}
	}
	if a.Event.Count > 1 {
		b = append(b, " x"...)
		b = strconv.AppendUint(b, a.Event.Count, 10)
	}
	b = append(b, "\n    "...)
	b = p.style(b, ansiCyan)
	msg := a.Message
	if msg == "" {
		msg = a.Rule.Name
	}
	b = appendSanitized(b, msg, 1024)
	b = p.style(b, ansiReset)
	if pr := a.Process; pr != nil {
		if pr.Parent != nil {
			b = append(b, " | parent"...)
			if pr.Parent.PID != nil {
				b = append(b, ' ')
				b = strconv.AppendUint(b, *pr.Parent.PID, 10)
			}
			if pr.Parent.Executable != "" {
				b = append(b, ' ')
				b = appendSanitized(b, pr.Parent.Executable, 512)
			}
		}
		if pr.CommandLine != "" {
			b = append(b, " | cmd "...)
			b = appendSanitized(b, pr.CommandLine, 1024)
		}
	}
	if a.User != nil && (a.User.ID != "" || a.User.Name != "") {
		b = append(b, " | user "...)
		if a.User.Name != "" {
			b = appendSanitized(b, a.User.Name, 256)
		} else {
			b = appendSanitized(b, a.User.ID, 256)
		}
	}
	if a.Registry != nil && a.Registry.Path != "" {
		b = append(b, " | reg "...)
		b = appendSanitized(b, a.Registry.Path, 1024)
	}
	if e := a.Smsswatch.Evidence; e.Expected != "" || e.Observed != "" {
		b = append(b, " | expected "...)
		b = appendSanitized(b, e.Expected, 256)
		b = append(b, " observed "...)
		b = appendSanitized(b, e.Observed, 256)
	}
	if a.Event.ID != "" {
		b = append(b, " | id "...)
		b = appendSanitized(b, a.Event.ID, 32)
	}
	return append(b, '\n')
}

func severityName(score int) string {
	switch {
	case score >= 99:
		return "CRITICAL"
	case score >= 73:
		return "HIGH"
	case score >= 47:
		return "MEDIUM"
	case score >= 21:
		return "LOW"
	}
	return "UNKNOWN"
}

// dangerous reports runes that must not reach a terminal raw: C0 and C1
// controls, DEL, line and paragraph separators and bidirectional
// overrides and isolates (which reorder what follows).
func dangerous(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f ||
		r == 0x061c || r == 0xfeff
}

// appendSanitized appends s for one terminal line: dangerous runes become
// \uXXXX, invalid bytes \xNN, and more than limit bytes are cut with a
// note of how many were left out.
func appendSanitized(b []byte, s string, limit int) []byte {
	start := len(b)
	for i := 0; i < len(s); {
		if len(b)-start >= limit {
			b = append(b, "...(+"...)
			b = strconv.AppendInt(b, int64(len(s)-i), 10)
			return append(b, " bytes)"...)
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = hex.AppendEncode(append(b, '\\', 'x'), []byte{s[i]})
		case dangerous(r):
			b = hex.AppendEncode(append(b, '\\', 'u'), []byte{byte(r >> 8), byte(r)})
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// appendSafeJSON appends data as one compact JSON line in which no
// dangerous rune appears raw: inside valid JSON such runes can only be in
// strings, where \uXXXX means the same. Invalid UTF-8 becomes \ufffd.
func appendSafeJSON(b []byte, data []byte) ([]byte, error) {
	var c bytes.Buffer
	if err := json.Compact(&c, data); err != nil {
		return b, err
	}
	raw := c.Bytes()
	for i := 0; i < len(raw); {
		ch := raw[i]
		if ch < utf8.RuneSelf {
			// Compact JSON has no raw control characters; DEL may be raw
			// inside a string.
			if ch == 0x7f {
				b = append(b, `\u007f`...)
			} else {
				b = append(b, ch)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case dangerous(r):
			b = hex.AppendEncode(append(b, '\\', 'u'), []byte{byte(r >> 8), byte(r)})
		default:
			b = append(b, raw[i:i+size]...)
		}
		i += size
	}
	return b, nil
}
