package main

// addNATSFlags adds the NATS flags shared by run, replay and tail to a
// FlagSet and returns a function that, once the FlagSet is parsed, turns
// them into a stream.Config. Each flag can also be set from the
// environment ($NATS_URL for --nats, $SMSSWATCH_<FLAG> for the others);
// the password and the token are read from the environment only when the
// flag is not given, and never shown as defaults in --help.
//
//	fs := newFlagSet("replay", "replay [flags] FILE...", examples, io.err)
//	natsConfig := addNATSFlags(fs)
//	if code, ok := parseFlags(fs, args); !ok {
//		return code
//	}
//	cfg, err := natsConfig()
//	if err != nil { ... }            // bad flag value: print, exitError
//	if cfg.Conn.URL != "" {          // --nats not given: NATS is off
//		cfg.Host, cfg.Version, cfg.Logger, cfg.Counters = host, version, log, counters
//		pub, err := stream.NewPublisher(cfg)   // errors wrap stream.ErrAuth, ErrConfig...
//		...
//		defer pub.Close(ctx)                   // flushes, spools the rest
//	}

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smsswatch/smsswatch/stream"
)

// Bounds of the NATS flags: below them a sensor floods its server or
// drops every alert.
const (
	minSpoolBytes = 1 << 20
	minHeartbeat  = 100 * time.Millisecond
)

func addNATSFlags(fs *flag.FlagSet) func() (stream.Config, error) {
	url := stringFlag(fs, "nats", "", "NATS server URL(s), comma-separated; empty: no NATS")
	prefix := stringFlag(fs, "subject-prefix", stream.DefaultSubjectPrefix, "first token(s) of every subject: PREFIX.violations.HOST.RULE, PREFIX.heartbeat.HOST")
	jetstream := boolFlag(fs, "jetstream", false, "publish into a JetStream stream (durable, acknowledged, deduplicated) instead of core NATS")
	streamName := stringFlag(fs, "stream", stream.DefaultStream, "JetStream stream, created over PREFIX.violations.> if missing")
	dupWindow := durationFlag(fs, "dup-window", stream.DefaultDuplicateWindow, "duplicate window of the stream created; warned when a bound stream's is shorter (it must outlast any NATS outage the spool rides out)")
	user := stringFlag(fs, "user", "", "NATS user name")
	password := secretFlag(fs, "password", "NATS password (prefer the environment variable: a flag shows in the process list)")
	token := secretFlag(fs, "token", "NATS token (prefer the environment variable)")
	nkey := stringFlag(fs, "nkey", "", "file holding an NKey user seed")
	creds := stringFlag(fs, "creds", "", "NATS .creds file (user JWT and seed)")
	tlsCA := stringFlag(fs, "tls-ca", "", "PEM file of CAs that sign the NATS server's certificate")
	tlsCert := stringFlag(fs, "tls-cert", "", "client certificate (PEM) for mutual TLS")
	tlsKey := stringFlag(fs, "tls-key", "", "client private key (PEM) for mutual TLS")
	spool := stringFlag(fs, "spool", "", "directory where alerts wait while NATS is unreachable (kept across restarts); empty: memory only")
	spoolMax := stringFlag(fs, "spool-max-bytes", "256MiB", "spool size limit (K, M, G, KiB, MiB, GiB); when full the oldest alerts are dropped")
	heartbeat := durationFlag(fs, "heartbeat", stream.DefaultHeartbeat, "heartbeat period on PREFIX.heartbeat.HOST; 0 or negative: none")
	return func() (stream.Config, error) {
		max, err := parseSize(*spoolMax)
		if err != nil {
			return stream.Config{}, fmt.Errorf("--spool-max-bytes: %w", err)
		}
		if max < minSpoolBytes {
			return stream.Config{}, fmt.Errorf("--spool-max-bytes: %d is below the minimum of 1MiB", max)
		}
		hb := *heartbeat
		switch {
		case hb <= 0:
			hb = -1
		case hb < minHeartbeat:
			return stream.Config{}, fmt.Errorf("--heartbeat: %v is below the minimum of %v", hb, minHeartbeat)
		}
		cfg := stream.Config{
			Conn: stream.ConnConfig{
				URL: *url, User: *user, Password: *password(), Token: *token(),
				NKeyFile: *nkey, CredsFile: *creds, TLSCA: *tlsCA, TLSCert: *tlsCert, TLSKey: *tlsKey,
				Name: "smsswatch " + version,
			},
			SubjectPrefix: *prefix, JetStream: *jetstream, Stream: *streamName,
			SpoolDir: *spool, SpoolMaxBytes: max, Heartbeat: hb, DuplicateWindow: *dupWindow,
		}
		if err := stream.ValidatePrefix(cfg.SubjectPrefix); err != nil {
			return stream.Config{}, fmt.Errorf("--subject-prefix: %w", err)
		}
		if err := cfg.Conn.Validate(); err != nil {
			return stream.Config{}, err
		}
		return cfg, nil
	}
}

// secretFlag defines a string flag whose environment variable is read only
// after parsing, so that --help never prints the secret as a default.
func secretFlag(fs *flag.FlagSet, name, help string) func() *string {
	v := fs.String(name, "", help+" ($"+envName(name)+")")
	return func() *string {
		if *v == "" {
			if e, ok := os.LookupEnv(envName(name)); ok {
				*v = e
			}
		}
		return v
	}
}

// parseSize reads a byte count with an optional K/M/G (1000) or KiB/MiB/GiB
// (1024) suffix.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
		{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a positive size like 512MiB", s)
	}
	return n * mult, nil
}
