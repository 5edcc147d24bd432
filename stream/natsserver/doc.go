// Package natsserver runs a nats-server inside the process, for the replay
// command and for tests:
//
//	s, err := natsserver.Start(natsserver.Config{JetStream: true})
//	if err != nil { ... }
//	defer s.Shutdown()
//	url := s.URL() // nats://127.0.0.1:<free port>
//
// It is the only package of smsswatch that links the nats-server module;
// the publisher and the tail client (package stream) do not.
package natsserver
