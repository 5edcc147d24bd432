package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// TestRunPublishesToNATS runs the live pipeline (a scripted sensor) into an
// embedded NATS server on the loopback interface and reads the alerts and
// a heartbeat back.
func TestRunPublishesToNATS(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	alerts, err := nc.SubscribeSync(stream.FilterSubject(stream.DefaultSubjectPrefix, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	beats, err := nc.SubscribeSync(stream.HeartbeatSubject(stream.DefaultSubjectPrefix, "WS1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	src := &slowLive{fakeLive: fakeLive{events: liveScript()}, hold: 300 * time.Millisecond}
	var out bytes.Buffer
	var logs lockedBuffer
	log := zerolog.New(&logs)
	o := testRunOptions(t, "--nats", srv.URL(), "--heartbeat", "100ms", "--quiet")
	if code := runPipeline(context.Background(), o, src, &out, &log, nil); code != exitOK {
		t.Fatalf("exit %d: %s", code, logs.String())
	}
	msg, err := alerts.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no alert on NATS: %v\n%s", err, logs.String())
	}
	var doc struct {
		Rule struct {
			ID string `json:"id"`
		} `json:"rule"`
		Host struct {
			Name string `json:"name"`
		} `json:"host"`
	}
	if err := json.Unmarshal(msg.Data, &doc); err != nil || doc.Host.Name != "WS1" || doc.Rule.ID == "" {
		t.Errorf("alert %s: %v", msg.Data, err)
	}
	if msg.Header.Get(stream.HeaderMsgID) == "" {
		t.Error("alert without a message ID")
	}
	hb, err := beats.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no heartbeat: %v", err)
	}
	if !bytes.Contains(hb.Data, []byte("violations")) {
		t.Errorf("heartbeat %s", hb.Data)
	}
	if out.Len() != 0 {
		t.Errorf("--quiet wrote %q", out.String())
	}
}

// slowLive is fakeLive that stays up for a while (heartbeats need time).
type slowLive struct {
	fakeLive
	hold time.Duration
}

func (s *slowLive) Run(ctx context.Context, h etw.Handler) error {
	if err := s.fakeLive.Run(ctx, h); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(s.hold):
	}
	return nil
}
