// Package stream publishes smsswatch violations to NATS and reads them back.
//
//	p, err := stream.NewPublisher(stream.Config{Conn: stream.ConnConfig{URL: url}, SpoolDir: dir})
//	if err != nil { ... }         // ErrConfig, ErrAuth (errors.Is)
//	... // give p to the detector as its detect.Sink
//	err = p.Close(ctx)            // delivers or spools what is left
//
// Publisher is a detect.Sink: the engine's call copies the violation into a
// preallocated queue slot and hands it through a bounded queue to one
// publishing goroutine, so the engine never blocks; that goroutine encodes
// it as an ECS-shaped JSON alert (package stream/alert). Alerts go to prefix.violations.<host>.<rule id> with
// the header Nats-Msg-Id set to the violation's dedupe key, over core NATS
// (receipt confirmed by a PING/PONG round) or into a JetStream stream
// (receipt confirmed by its acks, decoded; the stream drops duplicates).
// What is not acknowledged is sent again; while NATS is unreachable alerts
// wait, in order, in a bounded on-disk spool (package stream/spool) that
// survives a restart. Heartbeats with the sensor's counters go to
// prefix.heartbeat.<host>.
//
// Tail prints alerts for the CLI and WatchFleet watches heartbeats. The
// embedded nats-server for replays and tests is package stream/natsserver,
// which this package does not link.
//
// Files: config.go (Config), publisher.go (the engine side), loop.go (the
// publishing goroutine), confirm.go (core and JetStream confirmation),
// window.go (what is in flight), heartbeat.go, fit.go (max payload),
// conn.go (connecting, errors), subject.go, tail.go, fleet.go.
package stream
