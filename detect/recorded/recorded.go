package recorded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	etwinput "github.com/smsswatch/smsswatch/etw/input"
	"github.com/smsswatch/smsswatch/etw/reorder"
)

// maxBootRecords bounds the boot records kept per host.
const maxBootRecords = 4096

// Options configure a Pipeline.
type Options struct {
	// ReorderWindow is how far behind the newest record of a stream an
	// event may arrive and still be put in time order.
	ReorderWindow time.Duration
	// ReorderMax caps the events one stream's reorder buffer holds.
	ReorderMax int
	// Before, when set, is called with each event just before its engine
	// sees it (replay paces on it).
	Before func(ev *etw.Event)
	// MaxStreams caps the (host, source) streams kept at once (0:
	// DefaultMaxStreams). Past it, the stream idle longest is finished
	// (drained and flushed, its violations emitted) and forgotten, and
	// counted in Pipeline.Evicted.
	MaxStreams int
	// ReorderBytes bounds the bytes all reorder buffers hold together (0:
	// DefaultReorderBytes); past it the oldest events are released early
	// (counted as reorder overflow).
	ReorderBytes int64
	// MaxOpen caps the inputs open at once (0: DefaultMaxOpen), and
	// OpenBytes what they hold together (0: DefaultOpenBytes), as each
	// reports it (etw/input's Input.Footprint): each holds read buffers
	// and decoder state of its own. When all the inputs fit both caps,
	// each is read once. Otherwise each is opened when the merge reaches
	// its first record (less the reorder window), found by reading up to
	// that record first (counted in Pipeline.FirstLooks); one that must
	// wait for another to end is counted in Pipeline.LateInputs when its
	// records then come behind the merge.
	MaxOpen   int
	OpenBytes int64
}

// DefaultReorderBytes is the default budget of all reorder buffers.
const DefaultReorderBytes = 8 << 20

// DefaultMaxOpen is the default cap on inputs open at once (each holds a
// file descriptor).
const DefaultMaxOpen = 128

// DefaultOpenBytes is the default cap on what the open inputs hold: 128
// text inputs, or 12 EVTX logs.
const DefaultOpenBytes = 8 << 20

// DefaultMaxStreams is the default cap on (host, source) streams: an
// attacker can forge a million host names, and every stream holds an
// engine.
const DefaultMaxStreams = 1024

// Key names one (host, source) stream.
type Key struct {
	Host   string
	Source etw.Source
}

// Stream is one (host, source) stream: its reorder buffer and engine.
type Stream struct {
	Key     Key
	Reorder *reorder.Buffer
	Engine  *detect.Engine
	// nextBoot indexes the host's boot records not yet fed to this
	// stream; bootLimit ends the ones it is fed by time (later ones reach
	// it as they are read).
	nextBoot, bootLimit int
	// last is the arrival order of its latest event, for eviction.
	last int64
}

// Input is what one input file gave.
type Input struct {
	// Path names the input as given.
	Path string
	// Stats are its reader's counters.
	Stats etw.ReadStats
	// Reorder are the counters of the buffer that put its records in
	// time order before the merge.
	Reorder reorder.Stats
}

// Pipeline is the detector over recorded inputs. Create it with New, then
// Run it over the inputs (or Push events yourself and Finish).
type Pipeline struct {
	det     *detect.Detector
	sink    detect.Sink
	opts    Options
	skips   Skips
	streams map[Key]*Stream
	hosts   map[string]*detect.Host
	budget  *reorder.Budget
	// boots holds each host's boot records, in the order read.
	boots   map[string][]etw.Event
	events  int64
	evicted int64
	// evictedReorder sums the reorder counters of the evicted streams.
	evictedReorder reorder.Stats
	lateInputs     int64
	firstLooks     int64
	openBytes      int64 // the footprint of the inputs open now
	inputs         []Input
	out            etw.Event
}

// New returns a pipeline that feeds det's engines and sends violations to
// sink.
func New(det *detect.Detector, sink detect.Sink, opts Options) *Pipeline {
	if opts.ReorderBytes <= 0 {
		opts.ReorderBytes = DefaultReorderBytes
	}
	return &Pipeline{det: det, sink: sink, opts: opts, streams: map[Key]*Stream{},
		hosts: map[string]*detect.Host{}, boots: map[string][]etw.Event{}, budget: reorder.NewBudget(opts.ReorderBytes)}
}

// Run reads every input in one pass and finishes. The inputs are read
// side by side, the next event always from the input whose next event is
// earliest, so that records of one stream split across files, and boot
// records in another file than the processes of their boot, reach each
// stream in time order whatever the order of the files; each input is
// read once (a pipe works), and closed at its end. With more inputs than
// fit Options.MaxOpen and Options.OpenBytes at once, each is first opened
// to read its first record, then closed, and opened again when the merge
// comes near that record (see Options.MaxOpen). It stops at the first input that cannot be opened or
// read further (after finishing what was read), or when ctx is done.
func (p *Pipeline) Run(ctx context.Context, paths []string) error {
	maxOpen := p.opts.MaxOpen
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpen
	}
	ins := make([]*input, len(paths))
	for i, path := range paths {
		ins[i] = &input{path: path, key: math.MinInt64}
	}
	defer func() {
		for _, in := range ins {
			in.close(p)
		}
		for _, in := range ins {
			if in.done {
				p.inputs = append(p.inputs, in.result)
			}
		}
	}()
	openBytes := p.opts.OpenBytes
	if openBytes <= 0 {
		openBytes = DefaultOpenBytes
	}
	// Open them all if they fit (opening reads no more than detection
	// needs); if they do not, close what was opened and look up each
	// one's first record instead.
	var err error
	fit := len(ins) <= maxOpen
	for _, in := range ins {
		if !fit {
			break
		}
		if err = p.open(in); err != nil {
			break
		}
		fit = p.openBytes <= openBytes
	}
	if err == nil && !fit {
		for _, in := range ins {
			in.unopen(p)
		}
		for _, in := range ins {
			if err = p.firstRecord(in); err != nil {
				break
			}
		}
	}
	for _, in := range ins {
		if err != nil {
			break
		}
		if in.rd != nil {
			err = in.advance(p)
		}
	}
	var frontier int64 = math.MinInt64 // the time of the latest event merged
	for n := 0; err == nil; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		// The next event: the earliest head, or an input not yet open
		// whose first record (less the window) comes before it.
		var next, nextOpen *input
		for _, in := range ins {
			switch {
			case in.ok:
				if nextOpen == nil || in.ev.Time < nextOpen.ev.Time {
					nextOpen = in
				}
				if next == nil || in.at() < next.at() {
					next = in
				}
			case !in.started:
				if next == nil || in.key < next.at() {
					next = in
				}
			}
		}
		if next != nil && !next.started {
			if nextOpen == nil || (openInputs(ins) < maxOpen && p.openBytes < openBytes) {
				if err = p.open(next); err != nil {
					break
				}
				if err = next.advance(p); err != nil {
					break
				}
				if next.ok && next.ev.Time < frontier {
					p.lateInputs++
				}
				continue
			}
			next = nextOpen // at the cap: it waits for an input to end
		}
		if next == nil {
			break
		}
		frontier = next.ev.Time
		p.Push(&next.ev)
		err = next.advance(p)
	}
	p.Finish()
	return err
}

// discard is the Skipper of a first look at an input: what it skips is
// reported when the input is read.
var discard = etw.SkipFunc(func(string, int64, string) {})

// firstRecord opens in, reads its first record and closes it again,
// setting in.key to when in must be open at the latest: the record's time
// less the reorder window (the earliest that in's reorder buffer can
// release first, unless the records of its first window are out of order
// by more than that). An input whose first record cannot be read gets the
// earliest key (it is opened first, and what failed is met there).
func (p *Pipeline) firstRecord(in *input) error {
	p.firstLooks++
	rd, c, err := etwinput.Open(in.path, discard)
	if err != nil {
		return err
	}
	defer c.Close()
	if rd.Next(&in.tmp) != nil {
		return nil
	}
	if in.tmp.Kind == etw.KindBoot {
		placeBoot(&in.tmp)
	}
	in.key = in.tmp.Time
	if w := int64(p.opts.ReorderWindow); in.key >= math.MinInt64+w {
		in.key -= w
	} else {
		in.key = math.MinInt64
	}
	in.tmp = etw.Event{}
	return nil
}

// open opens in for reading, with a reorder buffer of its own.
func (p *Pipeline) open(in *input) error {
	rd, closer, err := etwinput.Open(in.path, &p.skips)
	if err != nil {
		return err
	}
	in.rd, in.c, in.started = rd, closer, true
	in.footprint = defaultFootprint
	if f, ok := rd.(interface{ Footprint() int64 }); ok {
		in.footprint = f.Footprint()
	}
	p.openBytes += in.footprint
	in.q = reorder.New(p.opts.ReorderWindow, p.opts.ReorderMax)
	in.q.UseBudget(p.budget)
	return nil
}

// defaultFootprint is what an input whose reader does not say is taken to
// hold while open.
const defaultFootprint = 640 << 10

// unopen closes an input opened but not read yet, as if it had not been
// opened.
func (in *input) unopen(p *Pipeline) {
	if in.rd == nil || in.done {
		return
	}
	in.c.Close()
	p.openBytes -= in.footprint
	in.rd, in.c, in.q, in.started = nil, nil, nil, false
}

// input is one input being read. Its own reorder buffer puts its records
// in time order within the reorder window before the inputs are merged,
// so that one record far ahead of its neighbours does not hold the rest
// of its file back behind the other inputs.
type input struct {
	path string
	// key is, before it is opened, when the input must be open.
	key int64
	rd  etw.Reader
	c   io.Closer
	q   *reorder.Buffer
	tmp etw.Event
	ev  etw.Event
	// footprint is what the input holds while open (its reader's word).
	footprint int64
	ok        bool // ev holds the input's next event
	eof       bool
	started   bool // opened
	done      bool // closed, result set
	result    Input
}

// at is the time of the input's next event, or before it is opened its
// key.
func (in *input) at() int64 {
	if !in.started {
		return in.key
	}
	return in.ev.Time
}

// openInputs counts the inputs open now.
func openInputs(ins []*input) int {
	n := 0
	for _, in := range ins {
		if in.rd != nil {
			n++
		}
	}
	return n
}

// advance makes ev the input's next event in time order; at the end of
// the input it closes it.
func (in *input) advance(p *Pipeline) error {
	for {
		if in.q.Pop(&in.ev) {
			in.ok = true
			return nil
		}
		if in.eof {
			in.ok = false
			in.close(p)
			return nil
		}
		err := in.rd.Next(&in.tmp)
		switch {
		case errors.Is(err, io.EOF):
			in.eof = true
			in.q.Flush()
		case err != nil:
			in.ok = false
			return fmt.Errorf("%s: %w", in.path, err)
		default:
			if in.tmp.Kind == etw.KindBoot {
				placeBoot(&in.tmp)
			}
			in.q.Push(&in.tmp)
		}
	}
}

// close closes the input once, if it was opened, and keeps what its
// reader and reorder buffer counted.
func (in *input) close(p *Pipeline) {
	if in.done || in.rd == nil {
		return
	}
	in.done = true
	in.result = Input{Path: in.path, Stats: statsOf(in.rd), Reorder: in.q.Stats()}
	in.c.Close()
	p.openBytes -= in.footprint
	in.rd, in.c, in.q = nil, nil, nil
}

func statsOf(rd etw.Reader) etw.ReadStats {
	if s, ok := rd.(interface{ Stats() etw.ReadStats }); ok {
		return s.Stats()
	}
	return etw.ReadStats{}
}

// Push routes one event to its stream(s).
func (p *Pipeline) Push(ev *etw.Event) {
	p.events++
	if ev.Kind == etw.KindBoot {
		placeBoot(ev)
		if len(p.boots[ev.Host]) < maxBootRecords {
			p.boots[ev.Host] = append(p.boots[ev.Host], *ev)
		}
		for k, st := range p.streams {
			if k.Host == ev.Host {
				p.feed(st, ev)
			}
		}
		return
	}
	k := Key{ev.Host, ev.Source}
	st := p.streams[k]
	if st == nil {
		p.makeRoom()
		h := p.hosts[ev.Host]
		if h == nil {
			h = p.det.NewHost(ev.Host)
			p.hosts[ev.Host] = h
		}
		st = &Stream{Key: k, Reorder: reorder.New(p.opts.ReorderWindow, p.opts.ReorderMax),
			Engine: p.det.HostEngine(h, ev.Source, p.sink), bootLimit: len(p.boots[ev.Host])}
		st.Reorder.UseBudget(p.budget)
		p.streams[k] = st
	}
	st.last = p.events
	p.feedBoots(st, ev.Time)
	p.feed(st, ev)
}

// makeRoom evicts the stream idle longest when the cap is reached.
func (p *Pipeline) makeRoom() {
	max := p.opts.MaxStreams
	if max <= 0 {
		max = DefaultMaxStreams
	}
	if len(p.streams) < max {
		return
	}
	var old *Stream
	for _, st := range p.streams {
		if old == nil || st.last < old.last {
			old = st
		}
	}
	st := old
	st.Reorder.Flush()
	for st.Reorder.Pop(&p.out) {
		p.handle(st, &p.out)
	}
	st.Engine.Flush()
	delete(p.streams, st.Key)
	p.evicted++
	rs := st.Reorder.Stats()
	p.evictedReorder.Late += rs.Late
	p.evictedReorder.Overflow += rs.Overflow
	for k := range p.streams {
		if k.Host == st.Key.Host {
			return
		}
	}
	delete(p.hosts, st.Key.Host)
	delete(p.boots, st.Key.Host)
}

// Evicted returns how many streams were finished early and forgotten
// because more than Options.MaxStreams were open.
func (p *Pipeline) Evicted() int64 { return p.evicted }

// EvictedReorder returns the reorder counters (Late, Overflow) of the
// streams evicted, which Streams no longer lists.
func (p *Pipeline) EvictedReorder() reorder.Stats { return p.evictedReorder }

// LateInputs returns how many inputs were opened late, because more than
// Options.MaxOpen were needed at once: their first records came behind
// events already merged (the streams' reorder buffers put them back in
// order within the window; later than that they count as late there).
func (p *Pipeline) LateInputs() int64 { return p.lateInputs }

// FirstLooks returns how many inputs were read up to their first record
// before being read in full, because the inputs did not all fit
// Options.MaxOpen and Options.OpenBytes at once: that part of each is
// read twice.
func (p *Pipeline) FirstLooks() int64 { return p.firstLooks }

// maxBootPlacement is how long after the OS start a boot record naming
// it may be written and still be placed at that start.
const maxBootPlacement = int64(10 * time.Minute)

// placeBoot orders a boot record that names the OS start (Kernel-General
// 12) at that start: the records written between the two belong to the
// boot it evidences (DETECTION.md evidence rule 6), and a master that
// starts before the record is written must not meet the previous boot.
func placeBoot(ev *etw.Event) {
	if ev.Known&etw.FieldBootTime != 0 && ev.Boot.BootTime < ev.Time && ev.Time-ev.Boot.BootTime <= maxBootPlacement {
		ev.Time = ev.Boot.BootTime
	}
}

// feedBoots gives st the host's boot records up to time t.
func (p *Pipeline) feedBoots(st *Stream, t int64) {
	boots := p.boots[st.Key.Host][:st.bootLimit]
	for st.nextBoot < len(boots) && boots[st.nextBoot].Time <= t {
		p.feed(st, &boots[st.nextBoot])
		st.nextBoot++
	}
}

func (p *Pipeline) feed(st *Stream, ev *etw.Event) {
	st.Reorder.Push(ev)
	for st.Reorder.Pop(&p.out) {
		p.handle(st, &p.out)
	}
}

func (p *Pipeline) handle(st *Stream, ev *etw.Event) {
	if p.opts.Before != nil {
		p.opts.Before(ev)
	}
	st.Engine.Handle(ev)
}

// Finish drains every stream and flushes the engines: each stream is
// drained before any engine is flushed, so that what one source proves
// about the host's boots reaches the others before they decide.
func (p *Pipeline) Finish() {
	streams := p.Streams()
	for _, st := range streams {
		p.feedBoots(st, math.MaxInt64)
		st.Reorder.Flush()
		for st.Reorder.Pop(&p.out) {
			p.handle(st, &p.out)
		}
	}
	for _, st := range streams {
		st.Engine.Flush()
	}
}

// Streams lists the streams by host then source, for stable output.
func (p *Pipeline) Streams() []*Stream {
	out := make([]*Stream, 0, len(p.streams))
	for _, st := range p.streams {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Host != b.Host {
			return strings.ToLower(a.Host) < strings.ToLower(b.Host)
		}
		return a.Source < b.Source
	})
	return out
}

// Events returns how many events the inputs gave.
func (p *Pipeline) Events() int64 { return p.events }

// Inputs lists the inputs read, with their readers' counters.
func (p *Pipeline) Inputs() []Input { return p.inputs }

// Skips returns what was skipped, by file and record.
func (p *Pipeline) Skips() *Skips { return &p.skips }
