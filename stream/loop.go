package stream

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/stream/spool"
)

func (p *Publisher) now() int64 { return int64(time.Since(p.t0)) }

// process sends (or spools) the queued violations while it can.
func (p *Publisher) process() {
	for {
		if p.canSend() && !p.room() {
			return // wait for acks; the rest waits its turn
		}
		it := p.pending.pop()
		if it == nil {
			return
		}
		if !p.encode(it) {
			p.release(it)
			continue
		}
		p.accept(it)
	}
}

// encode turns a queue slot's violation into its subject and its alert
// document, truncated to fit the server's max payload; false when it
// cannot fit even so (counted as oversized and dropped).
func (p *Publisher) encode(it *item) bool {
	v := &it.v
	b := appendViolationSubject(it.Buf[:0], p.prefix, v.Host, v.Rule.ID())
	it.SubjLen = len(b)
	var fits bool
	it.Buf, fits = p.fit.encode(b, v)
	it.Key = v.DedupeKey
	if !fits {
		p.dropped.Add(1) // after fit counted it oversized: Stats never shows more drops than it explains
	}
	return fits
}

// sleep reports whether the goroutine may block: nothing is waiting that
// it could handle now. When it may, the engine side will wake it.
func (p *Publisher) sleep() bool {
	blocked := p.canSend() && !p.room()
	if !p.conf.arm() {
		return false // confirmations are waiting
	}
	if blocked {
		return true // blocked on acks, not on work: no need to be poked
	}
	if p.pending.len() > 0 {
		return false
	}
	p.sleeping.Store(true)
	if p.pending.len() > 0 { // queued meanwhile: the engine may not have seen sleeping
		p.sleeping.Store(false)
		return false
	}
	return true
}

// room reports whether the window takes more: not full, and not refilling
// after it was (which would cost a wake-up per ack).
func (p *Publisher) room() bool {
	if p.throttled && p.win.len() <= len(p.win.buf)*3/4 {
		p.throttled = false
	}
	if p.win.full() {
		p.throttled = true
	}
	return !p.throttled
}

// syncEvery bounds how long a spool write waits for its fsync.
const syncEvery = time.Second

// run is the publishing goroutine. It wakes only when it has something to
// do: a violation queued, a confirmation or a connection change (each of
// them pokes), or the next deadline of its timer (deadline): an ack
// timeout, the end of a retry backoff, a spool sync due, a heartbeat. With
// nothing pending and no heartbeat it sleeps without a timer.
func (p *Publisher) run() {
	defer close(p.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var armed int64 // the timer's deadline, ns since t0 (0: stopped)
	if p.cfg.Heartbeat > 0 {
		p.hbAt = p.now() + int64(p.cfg.Heartbeat)
	}
	var closeDone <-chan struct{}
	for {
		p.nowNs = p.now()
		p.checkConn()
		p.conf.collect()
		p.timed()
		p.drain()
		p.process()
		p.conf.request()
		p.returnFree()
		p.snapshot()
		if p.closing && p.finished() {
			break
		}
		// Block only when there is nothing to do; otherwise just look at
		// the signals.
		block := p.sleep()
		busy, wake := closedChan, (<-chan struct{})(nil)
		if block {
			busy, wake = nil, p.wake
		}
		// Re-arm only for an earlier deadline: a later one that is still
		// armed costs at most one early wake-up, which re-arms.
		switch d := p.deadline(); {
		case d == 0 && armed != 0:
			timer.Stop()
			armed = 0
		case d != 0 && (armed == 0 || d < armed):
			timer.Reset(time.Duration(d - p.now()))
			armed = d
		}
		select {
		case <-busy:
		case <-wake:
		case <-timer.C:
			armed = 0
		case ctx := <-p.closeCh:
			p.closing = true
			closeDone = ctx.Done()
		case <-closeDone:
			p.shutdown()
			return
		}
		if block {
			p.sleeping.Store(false)
		}
	}
	p.shutdown()
}

// timed does what is due by now: the confirmer's timeouts and retries,
// the spool's sync, the heartbeat.
func (p *Publisher) timed() {
	p.conf.tick()
	if p.syncDirty && p.nowNs >= p.syncAt {
		if err := p.back.Sync(); err != nil {
			p.syncAt = p.nowNs + int64(syncEvery) // try again
			if p.errLog.allow(10 * time.Second) {
				p.log.Error().Err(err).Msg("spool")
			}
		} else {
			p.syncDirty = false
		}
	}
	if hb := int64(p.cfg.Heartbeat); hb > 0 && p.nowNs >= p.hbAt {
		p.heartbeat()
		p.hbAt += hb
		if p.hbAt <= p.nowNs { // late (a long bind, a slow disk): skip, as a ticker would
			p.hbAt = p.nowNs + hb
		}
	}
}

// deadline is when the goroutine must wake next though nobody pokes it,
// in ns since t0; 0 when never.
func (p *Publisher) deadline() int64 {
	var d int64
	if p.cfg.Heartbeat > 0 {
		d = earlier(d, p.hbAt)
	}
	if p.syncDirty {
		d = earlier(d, p.syncAt)
	}
	if p.nowNs < p.retryAt && p.connected && (p.back.Unread() || p.pending.len() > 0) {
		d = earlier(d, p.retryAt) // the backoff ends: send what waits
	}
	if p.nowNs < p.readRetryAt {
		d = earlier(d, p.readRetryAt)
	}
	return earlier(d, p.conf.deadline())
}

// earlier returns the earlier of two deadlines, 0 meaning none.
func earlier(d, t int64) int64 {
	if t > 0 && (d == 0 || t < d) {
		return t
	}
	return d
}

// dirty notes a spool write, to be synced within syncEvery.
func (p *Publisher) dirty() {
	if p.persistent && !p.syncDirty {
		p.syncDirty = true
		p.syncAt = p.nowNs + int64(syncEvery)
	}
}

// finished reports, while closing, that nothing more can usefully be done:
// everything was delivered, or NATS is unreachable (Close does not wait
// for a reconnect).
func (p *Publisher) finished() bool {
	if p.pending.len() == 0 && p.win.len() == 0 && !p.back.Unread() {
		if n, _ := p.back.Depth(); n == 0 {
			return true
		}
	}
	return !p.connected
}

// checkConn notices disconnects: everything unacknowledged is sent again.
func (p *Publisher) checkConn() {
	g := p.discGen.Load()
	disc := g != p.seenDisc
	if disc {
		p.seenDisc = g
		if p.win.len() > 0 {
			p.trouble(nats.ErrDisconnected, false)
		}
	}
	was := p.connected
	p.connected = p.nc.IsConnected()
	if p.connected && (!was || disc) {
		p.fit.update(p.nc) // a new connection, maybe to another server
	}
}

func (p *Publisher) canSend() bool {
	return p.connected && p.conf.ready() && p.nowNs >= p.retryAt
}

// readRetry is how long a spool that failed to read rests.
const readRetry = 100 * time.Millisecond

// drain sends spooled violations, oldest first, while there is room.
func (p *Publisher) drain() {
	for p.canSend() && p.room() && p.nowNs >= p.readRetryAt && p.back.Unread() {
		it := p.spareItem()
		ok, err := p.back.Next(&it.Record)
		if err != nil || !ok {
			p.spare = append(p.spare, it)
			if err != nil {
				p.readRetryAt = p.nowNs + int64(readRetry)
				if p.errLog.allow(10 * time.Second) {
					p.log.Error().Err(err).Msg("spool read")
				}
			}
			return
		}
		it.fromSpool = true
		if !p.send(it) {
			return
		}
	}
}

func (p *Publisher) spareItem() *item {
	if n := len(p.spare); n > 0 {
		it := p.spare[n-1]
		p.spare = p.spare[:n-1]
		return it
	}
	return &item{Record: spool.Record{Buf: make([]byte, 0, itemBufSize)}}
}

// accept takes one violation from the queue: sent at once when nothing is
// waiting before it, otherwise spooled behind what is.
func (p *Publisher) accept(it *item) {
	if p.canSend() && p.room() && !p.back.Unread() {
		p.send(it)
		return
	}
	p.spool(it)
	p.release(it)
}

func (p *Publisher) spool(it *item) {
	p.dirty()
	if err := p.back.Append(it.Key, it.Buf[:it.SubjLen], it.Buf[it.SubjLen:]); err != nil {
		if p.errLog.allow(10 * time.Second) {
			p.log.Error().Err(err).Msg("spool write failed; violation dropped")
		}
	}
}

// release returns an item to where it came from.
func (p *Publisher) release(it *item) {
	it.acked, it.rejected = false, false
	if it.fromSpool {
		it.fromSpool = false
		if cap(it.Buf) > maxKeptBuf {
			it.Buf = make([]byte, 0, itemBufSize)
		}
		p.spare = append(p.spare, it)
		return
	}
	if cap(it.Buf) > maxKeptBuf {
		it.Buf = make([]byte, 0, itemBufSize)
	}
	p.toFree = append(p.toFree, it)
}

// returnFree gives released slots back to the engine side.
func (p *Publisher) returnFree() {
	if len(p.toFree) == 0 {
		return
	}
	for _, it := range p.toFree {
		p.free.push(it) // has room: it holds every slot
	}
	clear(p.toFree)
	p.toFree = p.toFree[:0]
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// subject returns it's subject as a string, cached.
func (p *Publisher) subject(it *item) string {
	b := it.Buf[:it.SubjLen]
	if s, ok := p.subjects[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.subjects) < 4096 {
		p.subjects[s] = s
	}
	return s
}

// send publishes it and puts it in the window; false when it could not be
// sent (it is then spooled or dropped).
func (p *Publisher) send(it *item) bool {
	p.nextID++
	it.id = p.nextID
	it.acked = false
	// The header value borrows it.hex: PublishMsg copies it into the
	// connection's buffer before it returns, and it stays untouched until
	// the slot is released. No string is allocated per violation.
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], it.Key)
	hex.Encode(it.hex[:], key[:])
	p.msgID[0] = unsafe.String(&it.hex[0], len(it.hex))
	p.msg.Subject = p.subject(it)
	p.msg.Data = it.Buf[it.SubjLen:]
	p.msg.Reply = p.conf.replyTo(it.id)
	err := p.nc.PublishMsg(&p.msg)
	p.msg.Data, p.msgID[0] = nil, ""
	if err != nil {
		if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrHeadersNotSupported) {
			p.rejected++
			if p.errLog.allow(10 * time.Second) {
				p.log.Error().Err(err).Int("bytes", len(it.Buf)).Msg("NATS refused a violation; dropped")
			}
			if it.fromSpool {
				p.win.push(it) // keep the spool's commit order
				it.acked, it.rejected = true, true
				p.popAcked()
			} else {
				p.release(it)
			}
			return true
		}
		// Not connected after all: keep it, in order.
		p.trouble(err, true)
		if !it.fromSpool {
			p.spool(it)
		}
		p.release(it)
		return false
	}
	it.sent = p.nowNs
	p.conf.sent(p.win.len() == 0)
	p.win.push(it)
	return true
}

// trouble handles a failed send, a negative or missing ack, or a
// disconnect: every unacknowledged violation goes back into the backlog,
// in order, to be sent again.
func (p *Publisher) trouble(err error, backoff bool) {
	p.retries++
	if p.errLog.allow(10*time.Second) && !errors.Is(err, nats.ErrDisconnected) {
		p.log.Warn().Err(p.cfg.Conn.scrub(err)).Int("unacknowledged", p.win.len()).Msg("publish trouble; resending unacknowledged violations")
	}
	for p.win.len() > 0 {
		it := p.win.pop()
		if !it.fromSpool && !it.acked {
			p.spool(it)
		}
		if !it.fromSpool && it.acked {
			p.published++
		}
		p.release(it)
	}
	p.back.Rewind()
	p.conf.reset(err)
	if backoff {
		p.backoff = min(max(2*p.backoff, 100*time.Millisecond), 5*time.Second)
		p.retryAt = p.now() + int64(p.backoff)
	}
}

// popAcked retires the acknowledged violations at the front of the window.
func (p *Publisher) popAcked() {
	for p.win.len() > 0 && p.win.front().acked {
		it := p.win.pop()
		if it.fromSpool {
			p.back.Commit(it.Pos)
			p.dirty()
		}
		if !it.rejected {
			p.published++
		}
		p.release(it)
	}
}

// snapshot publishes the goroutine's counters for Stats.
func (p *Publisher) snapshot() {
	n, b := p.back.Depth()
	p.sPublished.Store(p.published)
	p.sRejected.Store(p.rejected)
	p.sRetries.Store(p.retries)
	p.sSpoolDropped.Store(p.back.Dropped())
	p.sSpoolDepth.Store(n)
	p.sSpoolBytes.Store(b)
	p.sInflight.Store(int64(p.win.len()))
}

// shutdown persists what was not delivered.
func (p *Publisher) shutdown() {
	if p.win.len() > 0 && p.nc.IsConnected() {
		p.conf.final()
	}
	p.connected = false
	p.trouble(nats.ErrDisconnected, false)
	p.retries-- // not a retry
	for it := p.pending.pop(); it != nil; it = p.pending.pop() {
		if p.encode(it) {
			p.spool(it)
		}
		p.release(it)
	}
	p.returnFree()
	if err := p.back.Close(); err != nil {
		p.closeErr = err
	}
	p.snapshot()
	n, _ := p.back.Depth()
	if !p.persistent && n > 0 {
		p.closeErr = fmt.Errorf("%w: %d violations (no spool directory)", ErrUndelivered, n)
	} else if n > 0 {
		p.log.Info().Int64("violations", n).Str("dir", p.cfg.SpoolDir).Msg("violations kept in the spool for the next run")
	}
	p.conf.close()
	if p.nc.IsConnected() {
		_ = p.nc.FlushTimeout(time.Second)
	}
}
