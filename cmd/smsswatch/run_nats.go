package main

import (
	"flag"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/stream"
)

// natsRunOptions are the NATS flags of run.
type natsRunOptions struct {
	url *string
}

// addNATSRunFlags adds run's NATS flags to fs.
func addNATSRunFlags(fs *flag.FlagSet) *natsRunOptions {
	return &natsRunOptions{url: stringFlag(fs, "nats", "", "NATS server URL(s); empty: alerts to stdout only")}
}

// publisher returns the NATS publisher the flags configure, or nil when
// NATS is not configured. counters feeds its heartbeats.
func (n *natsRunOptions) publisher(host string, counters func() stream.Counters, log *zerolog.Logger) (*stream.Publisher, error) {
	if *n.url == "" {
		return nil, nil
	}
	p, err := stream.NewPublisher(stream.Config{Conn: stream.ConnConfig{URL: *n.url}, Host: host, Version: version,
		Counters: counters, Logger: *log})
	if err != nil {
		return nil, fmt.Errorf("NATS publisher: %w", err)
	}
	return p, nil
}
