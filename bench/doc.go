// Package bench holds smsswatch's benchmarks that span packages: the
// detector engine, load generation, and NATS publishing (end-to-end latency
// from an engine's violation to a subscriber, against raw nats.go). Run
// them with, for example:
//
//	go test -run XXX -bench . -benchtime 20000x ./bench/
package bench
