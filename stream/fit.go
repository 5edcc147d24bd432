package stream

import (
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/alert"
)

// defaultMaxPayload is nats-server's default max_payload, assumed until
// the server said its own.
const defaultMaxPayload = 1 << 20

// headerReserve is what the Nats-Msg-Id header takes of the max payload
// (NATS counts headers and data together), rounded up.
const headerReserve = 64

// payloadFit makes every alert fit the server's max payload: long string
// fields are truncated (listed in smsswatch.truncated); an alert that
// cannot fit even so is dropped and counted. The engine side reads max
// atomically; the publishing goroutine refreshes it on every connection.
type payloadFit struct {
	max       atomic.Int64 // server's max payload, 0 until known
	truncated atomic.Uint64
	oversized atomic.Uint64
}

// update takes the max payload of the server nc is connected to.
func (f *payloadFit) update(nc *nats.Conn) {
	if nc == nil {
		return
	}
	if m := nc.MaxPayload(); m > 0 && m != f.max.Load() {
		f.max.Store(m)
	}
}

// limit is the largest alert document that can be published.
func (f *payloadFit) limit() int {
	m := f.max.Load()
	if m <= 0 {
		m = defaultMaxPayload
	}
	return int(max(m-headerReserve, 0))
}

// encode appends v's alert to dst, truncated to fit; ok is false (and the
// alert counted as oversized) when it cannot fit.
func (f *payloadFit) encode(dst []byte, v *detect.Violation) ([]byte, bool) {
	out, ok, cut := alert.AppendFit(dst, v, f.limit())
	if cut && ok {
		f.truncated.Add(1)
	}
	if !ok {
		f.oversized.Add(1)
	}
	return out, ok
}
