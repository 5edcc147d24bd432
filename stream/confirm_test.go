package stream

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// TestPubAckDecode: acks are judged by their decoded fields, not by what
// text they contain: a stream named "error" is a success, an ack without
// a stream (or sequence) is refused, the error form yields an *ackError.
func TestPubAckDecode(t *testing.T) {
	noResp := &nats.Msg{Header: nats.Header{"Status": []string{"503"}}}
	cases := []struct {
		name string
		msg  *nats.Msg
		want error // nil: stored
		api  bool  // an *ackError
	}{
		{"stored", &nats.Msg{Data: []byte(`{"stream":"SMSSWATCH","seq":7}`)}, nil, false},
		{"duplicate", &nats.Msg{Data: []byte(`{"stream":"SMSSWATCH","seq":7,"duplicate":true}`)}, nil, false},
		{"stream named error", &nats.Msg{Data: []byte(`{"stream":"error","seq":1}`)}, nil, false},
		{"domain", &nats.Msg{Data: []byte(`{"stream":"S","domain":"hub","seq":3}`)}, nil, false},
		{"error form", &nats.Msg{Data: []byte(`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`)}, nil, true},
		{"empty stream", &nats.Msg{Data: []byte(`{"stream":"","seq":1}`)}, errAckNoStream, false},
		{"no stream", &nats.Msg{Data: []byte(`{"seq":1}`)}, errAckNoStream, false},
		{"stream not a string", &nats.Msg{Data: []byte(`{"stream":null,"seq":1}`)}, errAckNoStream, false},
		{"no sequence", &nats.Msg{Data: []byte(`{"stream":"S"}`)}, errUnreadableAck, false},
		{"not JSON", &nats.Msg{Data: []byte(`+OK`)}, errUnreadableAck, false},
		{"no responders", noResp, errNoResponders, false},
		{"empty", &nats.Msg{}, errUnreadableAck, false},
	}
	var a pubAck // reused, as the subscription reuses it
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := a.decode(c.msg)
			var ae *ackError
			switch {
			case c.api:
				if !errors.As(err, &ae) || ae.Code != 503 || ae.ErrCode != 10077 {
					t.Fatalf("decode = %v, want the ack's error", err)
				}
			case c.want == nil && err != nil:
				t.Fatalf("decode = %v, want stored", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("decode = %v, want %v", err, c.want)
			}
		})
	}
}

// TestPubAckDecodeAllocBudget: judging a good ack stays within
// encoding/json's fixed cost (the stream name reuses the scratch buffer;
// nats.go itself allocates a Msg per ack delivered).
func TestPubAckDecodeAllocBudget(t *testing.T) {
	const budget = 4
	m := &nats.Msg{Data: []byte(`{"stream":"SMSSWATCH","seq":12345,"duplicate":false}`)}
	var a pubAck
	_ = a.decode(m)
	if n := testing.AllocsPerRun(200, func() { _ = a.decode(m) }); n > budget {
		t.Errorf("%.1f allocations per ack, budget %d", n, budget)
	}
}

// TestPublishToStreamNamedError: a JetStream stream literally named
// "error" takes alerts like any other (its acks contain "error").
func TestPublishToStreamNamedError(t *testing.T) {
	srv := startServer(t, natsserver.Config{JetStream: true})
	p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: testLog(t), JetStream: true, Stream: "error", Heartbeat: -1})
	const n = 20
	for i := 0; i < n; i++ {
		p.Violation(violation(i))
	}
	eventually(t, 10*time.Second, "all acknowledged", func() bool { return p.Stats().Published == n })
	if st := p.Stats(); st.Retries != 0 {
		t.Errorf("acks of stream \"error\" were taken for errors: %+v", st)
	}
	closePublisher(t, p, 5*time.Second)
	checkAll(t, readStream(t, srv.URL(), "error", n), n, true)
}
