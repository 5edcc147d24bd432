// Package stream publishes smsswatch violations to NATS and reads them back.
//
// Publisher is a detect.Sink: the engine's call encodes the violation as an
// ECS-shaped JSON alert (AppendAlert) into a preallocated buffer and hands it
// through a bounded queue to one publishing goroutine, so the engine never
// blocks. Alerts go to prefix.violations.<host>.<rule id> with the header
// Nats-Msg-Id set to the violation's dedupe key, over core NATS (receipt
// confirmed by a PING/PONG round) or into a JetStream stream (receipt
// confirmed by its acks; the stream drops duplicates). What is not
// acknowledged is sent again; while NATS is unreachable alerts wait, in
// order, in a bounded on-disk spool that survives a restart. Heartbeats with
// the sensor's counters go to prefix.heartbeat.<host>.
//
// Tail prints alerts for the CLI; StartServer runs an in-process
// nats-server for replays and tests.
package stream
