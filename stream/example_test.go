package stream_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

func ExampleNewPublisher() {
	srv, err := natsserver.Start(natsserver.Config{JetStream: true})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()
	p, err := stream.NewPublisher(stream.Config{
		Conn:      stream.ConnConfig{URL: srv.URL()},
		JetStream: true, // stored in the stream SMSSWATCH, acknowledged
		Heartbeat: -1,
	})
	if err != nil {
		panic(err)
	}
	p.Violation(&detect.Violation{Rule: detect.RuleImagePath, Host: "WS01", DedupeKey: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println(p.Close(ctx), p.Stats().Published)
	// Output: <nil> 1
}
