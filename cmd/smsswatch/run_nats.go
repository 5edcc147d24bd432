package main

import (
	"flag"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/stream"
)

// natsRunOptions are run's NATS flags: the shared set of natsflags.go.
type natsRunOptions struct {
	config func() (stream.Config, error)
}

// addNATSRunFlags adds the shared NATS flags to fs.
func addNATSRunFlags(fs *flag.FlagSet) *natsRunOptions {
	return &natsRunOptions{config: addNATSFlags(fs)}
}

// publisher returns the NATS publisher the flags configure (heartbeats
// carry counters), or nil when --nats is not given.
func (n *natsRunOptions) publisher(host string, counters func() stream.Counters, log *zerolog.Logger) (*stream.Publisher, error) {
	cfg, err := n.config()
	if err != nil {
		return nil, fmt.Errorf("NATS flags: %w", err)
	}
	if cfg.Conn.URL == "" {
		return nil, nil
	}
	cfg.Host, cfg.Version, cfg.Counters = host, version, counters
	cfg.Logger = log.With().Str("component", "nats").Logger()
	p, err := stream.NewPublisher(cfg)
	if err != nil {
		return nil, fmt.Errorf("NATS publisher: %w", err)
	}
	return p, nil
}
