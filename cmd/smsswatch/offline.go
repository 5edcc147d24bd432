package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// errStrict is returned when --strict is set and records were skipped.
var errStrict = errors.New("records were skipped (--strict)")

// maxSkipNotes is how many skipped records are listed by file and record.
const maxSkipNotes = 20

// skipLog counts and keeps the first skipped records.
type skipLog struct {
	total    int64
	notes    []string
	byReason map[string]int64
}

// Skip implements etw.Skipper.
func (s *skipLog) Skip(file string, record int64, reason string) {
	s.total++
	if s.byReason == nil {
		s.byReason = map[string]int64{}
	}
	// Reasons are short and fixed; cap the map against odd ones.
	if _, ok := s.byReason[reason]; ok || len(s.byReason) < 64 {
		s.byReason[reason]++
	} else {
		s.byReason["other"]++
	}
	if len(s.notes) < maxSkipNotes {
		s.notes = append(s.notes, fmt.Sprintf("%s:%d: %s", file, record, reason))
	}
}

// streamKey names one (host, source) state.
type streamKey struct {
	host string
	src  etw.Source
}

// stage orders one (host, source) stream and feeds its engine.
type stage struct {
	key     streamKey
	reorder *etw.Reorder
	engine  *detect.Engine
	// nextBoot indexes the host's boot records not yet fed to this
	// stream; bootLimit ends the ones it is fed by time (later ones reach
	// it as they are read).
	nextBoot, bootLimit int
}

// recordedOptions configure reading recorded data.
type recordedOptions struct {
	reorderWindow time.Duration
	reorderMax    int
}

// recorded is the detector over recorded data: files are read in turn,
// each (host, source) stream is put in event-time order by a bounded
// reorder buffer, and fed to its own engine. Boot records (System and
// Security start-up events) belong to every stream of their host. With
// several inputs, a first pass collects them, so each stream gets them at
// their time whatever file they came from; with one input the reorder
// buffer places them (and the engine ignores one that comes too late).
type recorded struct {
	det    *detect.Detector
	sink   detect.Sink
	opts   recordedOptions
	skips  skipLog
	stages map[streamKey]*stage
	// boots holds each host's boot records, in time order (prescan).
	boots map[string][]etw.Event
	// before, when set, is called with each event just before its engine
	// sees it (replay paces on it).
	before     func(ev *etw.Event)
	events     int64
	files      int
	out        etw.Event
	prescanned bool
}

func newRecorded(det *detect.Detector, sink detect.Sink, opts recordedOptions) *recorded {
	return &recorded{det: det, sink: sink, opts: opts, stages: map[streamKey]*stage{}, boots: map[string][]etw.Event{}}
}

// maxBootRecords bounds the boot records kept per host.
const maxBootRecords = 4096

// prescanIfMany prescans when there are several inputs: one input's boot
// records are placed by the reorder buffer, and reading it twice would
// cost a second pass.
func (r *recorded) prescanIfMany(paths []string) error {
	if len(paths) < 2 {
		return nil
	}
	return r.prescan(paths)
}

// prescan reads every input once for its boot records.
func (r *recorded) prescan(paths []string) error {
	var quiet skipLog // the main pass reports skipped records
	for _, path := range paths {
		rd, closer, err := etw.Open(path, &quiet)
		if err != nil {
			return err
		}
		var ev etw.Event
		for {
			err := rd.Next(&ev)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				closer.Close()
				return fmt.Errorf("%s: %w", path, err)
			}
			if ev.Kind == etw.KindBoot && len(r.boots[ev.Host]) < maxBootRecords {
				r.boots[ev.Host] = append(r.boots[ev.Host], ev)
			}
		}
		closer.Close()
	}
	for _, list := range r.boots {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Time < list[j].Time })
	}
	r.prescanned = true
	return nil
}

// readFile reads one input to its end. A file that cannot be opened or
// read is an error; malformed records inside it are skipped and counted.
func (r *recorded) readFile(path string) error {
	rd, closer, err := etw.Open(path, &r.skips)
	if err != nil {
		return err
	}
	defer closer.Close()
	r.files++
	var ev etw.Event
	for {
		err := rd.Next(&ev)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		r.push(&ev)
	}
}

// push routes one event to its stream(s).
func (r *recorded) push(ev *etw.Event) {
	r.events++
	if ev.Kind == etw.KindBoot {
		if r.prescanned {
			return // merged into every stream of the host from the prescan
		}
		if len(r.boots[ev.Host]) < maxBootRecords {
			r.boots[ev.Host] = append(r.boots[ev.Host], *ev)
		}
		for k, st := range r.stages {
			if k.host == ev.Host {
				r.feed(st, ev)
			}
		}
		return
	}
	k := streamKey{ev.Host, ev.Source}
	st := r.stages[k]
	if st == nil {
		st = &stage{key: k, reorder: etw.NewReorder(r.opts.reorderWindow, r.opts.reorderMax), engine: r.det.Engine(ev.Host, ev.Source, r.sink),
			bootLimit: len(r.boots[ev.Host])}
		r.stages[k] = st
	}
	r.feedBoots(st, ev.Time)
	r.feed(st, ev)
}

// feedBoots gives st the host's boot records up to time t.
func (r *recorded) feedBoots(st *stage, t int64) {
	boots := r.boots[st.key.host][:st.bootLimit]
	for st.nextBoot < len(boots) && boots[st.nextBoot].Time <= t {
		r.feed(st, &boots[st.nextBoot])
		st.nextBoot++
	}
}

func (r *recorded) feed(st *stage, ev *etw.Event) {
	st.reorder.Push(ev)
	for st.reorder.Pop(&r.out) {
		r.handle(st, &r.out)
	}
}

func (r *recorded) handle(st *stage, ev *etw.Event) {
	if r.before != nil {
		r.before(ev)
	}
	st.engine.Handle(ev)
}

// finish drains every stream and flushes the engines.
func (r *recorded) finish() {
	for _, st := range r.sortedStages() {
		r.feedBoots(st, math.MaxInt64)
		st.reorder.Flush()
		for st.reorder.Pop(&r.out) {
			r.handle(st, &r.out)
		}
		st.engine.Flush()
	}
}

// sortedStages lists the streams by host then source, for stable output.
func (r *recorded) sortedStages() []*stage {
	out := make([]*stage, 0, len(r.stages))
	for _, st := range r.stages {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].key, out[j].key
		if a.host != b.host {
			return strings.ToLower(a.host) < strings.ToLower(b.host)
		}
		return a.src < b.src
	})
	return out
}
