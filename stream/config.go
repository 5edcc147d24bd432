package stream

import (
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of Config.
const (
	DefaultStream          = "SMSSWATCH"
	DefaultQueueSize       = 4096
	DefaultMaxInflight     = 1024
	DefaultAckTimeout      = 5 * time.Second
	DefaultDuplicateWindow = 24 * time.Hour
	DefaultSpoolMaxBytes   = 256 << 20
	DefaultHeartbeat       = 10 * time.Second
)

// HeaderMsgID is the NATS header carrying the violation's dedupe key (16
// hex digits). JetStream drops a message whose ID it has already stored
// within the stream's duplicate window, so retries never duplicate.
const HeaderMsgID = "Nats-Msg-Id"

// Config configures a Publisher. The zero value of every field but Conn
// means its default.
type Config struct {
	// Conn says how to reach NATS.
	Conn ConnConfig
	// SubjectPrefix is the first subject token(s) (default "smsswatch").
	SubjectPrefix string
	// Host names this sensor in heartbeats (default: os.Hostname).
	Host string
	// Version is reported in heartbeats.
	Version string
	// JetStream publishes into a stream and waits for its acks; otherwise
	// core NATS is used and a PING/PONG flush confirms receipt.
	JetStream bool
	// Stream is the JetStream stream (default "SMSSWATCH").
	Stream string
	// BindStream only binds to an existing stream, never creates it.
	BindStream bool
	// Replicas of a stream the publisher creates (default 1).
	Replicas int
	// DuplicateWindow of a stream the publisher creates (default 24 h):
	// it must outlast any outage the spool rides out, or an alert sent
	// before the outage whose ack was lost is stored twice when retried.
	// Bound to an existing stream with a shorter window, the publisher
	// warns.
	DuplicateWindow time.Duration
	// AckTimeout is how long an unacknowledged violation waits before all
	// unacknowledged ones are sent again (default 5 s).
	AckTimeout time.Duration
	// QueueSize bounds the violations waiting between the engine and the
	// publishing goroutine; beyond it Violation drops (default 4096).
	QueueSize int
	// MaxInflight bounds the violations sent and not yet acknowledged
	// (default 1024, at most QueueSize/2).
	MaxInflight int
	// SpoolDir is the on-disk spool; "" keeps the backlog in memory only
	// (lost when the process ends).
	SpoolDir string
	// SpoolMaxBytes bounds the spool; when full the oldest violations are
	// dropped (default 256 MiB).
	SpoolMaxBytes int64
	// Heartbeat is the heartbeat period (default 10 s; negative: none).
	Heartbeat time.Duration
	// Counters, if set, returns the pipeline's counters for heartbeats. It
	// is called from the publisher's goroutine and must be safe for that.
	Counters func() Counters
	// Logger receives connection changes and errors, never secrets and
	// never one line per violation.
	Logger zerolog.Logger
}

func (c *Config) setDefaults() error {
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if err := ValidatePrefix(c.SubjectPrefix); err != nil {
		return err
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	c.QueueSize = max(c.QueueSize, 4)
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	c.MaxInflight = max(min(c.MaxInflight, c.QueueSize/2), 1)
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	return c.Conn.Validate()
}
