package evtx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/smsswatch/smsswatch/etw/winlog"
)

// The decoder: our own binary XML decoder for the records the reader
// keeps, in place of the library's (www.velocidex.com/golang/evtx v0.2.0)
// ParseBinXML and TemplateNode.Expand, whose ordered dicts, maps, mutexes
// and eager string decoding cost most of reading a Sysmon log.
//
// It mirrors the library step for step over the chunk (same offsets, the
// same template table filled at first use, the same tree: element nodes,
// literals, substitutions, arrays of repeated elements, the same
// expansion and NormalizeEventData), with value types: tree nodes in an
// arena (dict entries as linked lists in insertion order), keys interned,
// expanded values as a tagged union whose strings stay offsets into the
// chunk until fillEvtx's mirror (fill) reads them. Its output per kept
// record is the winlog.Record fillEvtx would fill from the library's
// tree, set by the same calls in the same order.
//
// It declines a chunk (the reader then hands it to the library, as
// before) on anything it does not mirror exactly: a template instance
// inside a template body (the library stores its expansion as a shared
// literal, which NormalizeEventData may change), a template whose root is
// empty or a lone "" key (its expansion is not a fresh dict), a node
// stack popped empty (the library then writes to throwaway nodes), and
// arenas past their bounds. A decline is always safe: the library's
// result is the reference.

// Value kinds of an expanded tree (the library's interface{} values).
const (
	dvNil     uint8 = iota
	dvUTF16         // UTF16LEToUTF8 of the bytes (a string)
	dvRaw           // the bytes as a string (types 0x27, 0x28)
	dvRawTrim       // the bytes as a string, trailing NULs trimmed (unknown types)
	dvGUID          // a GUID string
	dvSID           // a SID string: off is where the argument starts, n its length
	dvStrList       // UTF-16 strings split on NUL ([]string)
	dvBytes         // []byte
	dvUint          // uint8 to uint64
	dvFloat         // float64 (u holds its bits)
	dvBool          // bool
	dvDict          // *ordereddict.Dict: entries off..off+n of ents
	dvArray         // []interface{}: elements off..off+n of elems
)

// dval is one expanded value. The bytes of a string kind are buf[off:
// off+n], or n zero bytes when z (the library's ConsumeBytes past the end
// of the chunk).
type dval struct {
	kind uint8
	z    bool
	off  int32
	n    int32
	u    uint64
}

// dent is one entry of an expanded dict.
type dent struct {
	key int32
	val dval
}

// tnode mirrors the library's TemplateNode. An element node holds a dict
// of children (first..last, linked by next, with their keys), an array
// node its elements the same way; a literal node its value; any other
// node expands to its substitution id's argument.
type tnode struct {
	lit         dval
	key         int32 // its key in its parent's dict
	next        int32 // the next entry of its parent's dict or array
	first, last int32
	n           int32 // entries of its dict
	curKey      int32 // the library's CurrentKey
	id          uint16
	flags       uint8
}

const (
	tnDict = 1 << iota // NestedDict != nil
	tnLit              // Literal != nil
	tnArr              // NestedArray != nil
)

// dctx mirrors a ParseContext: its offset, attribute mode, and its node
// stack (d.stack from base up). body marks a template body.
type dctx struct {
	off  int
	base int
	attr bool
	body bool
}

// argFrame is the argument list of one template instance (d.args[base:
// base+n]); args nil in the library when !present.
type argFrame struct {
	base, n int
	present bool
}

type argDesc struct {
	size int
	typ  uint16
}

// Bounds on the decoder's arenas (the binary XML check bounds the
// library's work, which the decoder mirrors; these only guard the mirror
// itself): nodes per chunk, dict entries and array elements per record
// (decodeChunk drops a record's expansion once it is filled).
const (
	decMaxNodes = 1 << 18
	decMaxEnts  = 1 << 20
	decMaxKeys  = 1 << 14
	// decMaxChildren bounds a node's dict (dicts are searched linearly;
	// real records have a few dozen members at most).
	decMaxChildren = 256
	// decKeepArena: arenas grown past this (a hostile chunk) are freed
	// at the next chunk's start.
	decKeepArena = 1 << 16
	// decKeepKeys: a key table larger than this at a chunk's start is
	// emptied (names differ from file to file, not chunk to chunk).
	decKeepKeys = 4096
)

// Keys the decoder and fill look for, interned first at these IDs.
const (
	kEmpty int32 = iota
	kValue
	kEvent
	kSystem
	kEventData
	kData
	kName
	kEventID
	kChannel
	kComputer
	kProvider
	kTimeCreated
	kSystemTime
	kXmlns
	numWellKnown
)

var wellKnownKeys = [numWellKnown]string{
	kEmpty: "", kValue: "Value", kEvent: "Event", kSystem: "System",
	kEventData: "EventData", kData: "Data", kName: "Name", kEventID: "EventID",
	kChannel: "Channel", kComputer: "Computer", kProvider: "Provider",
	kTimeCreated: "TimeCreated", kSystemTime: "SystemTime", kXmlns: "xmlns",
}

// decRecord is one kept record as the decoder gives it: ok is false when
// fillEvtx would have found no Event/System element.
type decRecord struct {
	rec winlog.Record
	ok  bool
}

// decoder holds the decoder's per-chunk arenas and per-file key table.
type decoder struct {
	buf   []byte
	nodes []tnode
	ents  []dent
	elems []dval
	tmpE  []dent // dicts being built (a stack)
	tmpA  []dval // arrays being built (a stack)
	args  []dval
	descs []argDesc
	stack []int32
	known map[uint32]int32 // template ID -> root node
	// Keys: name -> ID, ID -> name, and ID -> winlog field (-1: none).
	keyIDs  map[string]int32
	keys    []string
	keyFld  []int16
	scratch []byte
	// valKeys caches internVal's key IDs of the chunk's string values by
	// where they are (a template's Data names, interned per record by
	// normalize); entries of another chunk (gen) are stale.
	valKeys [valKeySlots]valKey
	gen     uint32
	// seen marks the keys of the dict normalize is building (by key ID:
	// all below decMaxKeys), sparing it a search for each new key.
	seen    [decMaxKeys / 64]uint64
	recAttr bool // the record context's attribute mode (kept across records)
	fail    string

	// Chunks decoded and declined, and why the last one was declined.
	chunks, declined int64
	lastDecline      string
}

// decline marks the chunk as not decoded.
func (d *decoder) decline(why string) {
	if d.fail == "" {
		d.fail = why
	}
}

// decodeChunk decodes the records walk lists of the chunk in buf, in
// order (as the library's Chunk.Parse does), filling out with one
// decRecord for each record parseChunk maps (neither rejected nor
// filtered). It returns false when it
// declines the chunk.
func (d *decoder) decodeChunk(buf []byte, walk []evtxRecordSpan, fullParse bool, out *[]decRecord) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			d.decline(fmt.Sprintf("decoder panic: %v", p))
			ok = false
		}
		if !ok {
			d.declined++
			d.lastDecline = d.fail
		} else {
			d.chunks++
		}
	}()
	d.reset(buf)
	// One decRecord for each walked record at most, grown once (the
	// records past len keep their arenas for the next chunk).
	recs := (*out)[:cap(*out)]
	if len(recs) < len(walk) {
		recs = append(recs, make([]decRecord, len(walk)-len(recs))...)
	}
	recs = recs[:0]
	for i := range walk {
		w := &walk[i]
		// What a record adds to the arenas is its own once it is filled:
		// its expanded values (ents, elems: no template node refers to
		// them, a template body holding no instance) and, unless it
		// defined a template, its nodes. They are dropped after it.
		nodes, templates := len(d.nodes), len(d.known)
		root := d.newNode()
		c := dctx{off: w.off + evtxRecordHeader, base: 0, attr: d.recAttr}
		d.stack = append(d.stack[:0], root)
		c = d.parse(c, 0)
		d.recAttr = c.attr
		if d.fail != "" {
			return false
		}
		if w.reject == "" && (!w.filtered || fullParse) {
			v := d.expand(root, argFrame{})
			if d.fail != "" {
				return false
			}
			recs = recs[:len(recs)+1]
			r := &recs[len(recs)-1]
			r.ok = d.fill(&r.rec, v)
			if d.fail != "" {
				return false
			}
		} // else not mapped (see parseChunk): parsed for its templates
		d.ents, d.elems = d.ents[:0], d.elems[:0]
		if len(d.known) == templates {
			d.nodes = d.nodes[:nodes]
		}
	}
	*out = recs
	return true
}

// reset starts a new chunk.
func (d *decoder) reset(buf []byte) {
	d.buf = buf
	if cap(d.nodes) > decKeepArena || cap(d.ents) > decKeepArena || cap(d.elems) > decKeepArena {
		d.nodes, d.ents, d.elems = nil, nil, nil
	}
	if d.nodes == nil {
		// Sized for a chunk's templates and one record's expansion (what
		// the arenas hold at most: see decodeChunk), to spare growing them.
		d.nodes, d.ents, d.elems = make([]tnode, 0, 1024), make([]dent, 0, 512), make([]dval, 0, 64)
	}
	d.nodes, d.ents, d.elems = d.nodes[:0], d.ents[:0], d.elems[:0]
	d.tmpE, d.tmpA, d.args, d.descs, d.stack = d.tmpE[:0], d.tmpA[:0], d.args[:0], d.descs[:0], d.stack[:0]
	if d.known == nil {
		d.known = make(map[uint32]int32)
	}
	clear(d.known)
	d.recAttr = false // a new ParseContext per chunk
	d.fail = ""
	d.seen = [decMaxKeys / 64]uint64{} // (all clear, unless a panic cut normalize short)
	d.gen++
	if d.gen == 0 { // wrapped: entries of gen 0 may be left from long ago
		d.valKeys = [valKeySlots]valKey{}
		d.gen = 1
	}
	if d.keyIDs == nil || len(d.keys) > decKeepKeys {
		if d.keyIDs == nil {
			d.keyIDs = make(map[string]int32)
		}
		clear(d.keyIDs)
		d.keys, d.keyFld = d.keys[:0], d.keyFld[:0]
		for _, k := range wellKnownKeys {
			d.internString(k)
		}
	}
}

// Cursor reads, as the library's Consume*: past the end they read zero
// and do not move.
func (d *decoder) u8(off *int) uint8 {
	if len(d.buf) < *off+1 {
		return 0
	}
	v := d.buf[*off]
	*off++
	return v
}

func (d *decoder) u16(off *int) uint16 {
	if len(d.buf) < *off+2 {
		return 0
	}
	v := binary.LittleEndian.Uint16(d.buf[*off:])
	*off += 2
	return v
}

func (d *decoder) u32(off *int) uint32 {
	if len(d.buf) < *off+4 {
		return 0
	}
	v := binary.LittleEndian.Uint32(d.buf[*off:])
	*off += 4
	return v
}

func (d *decoder) u64(off *int) uint64 {
	if len(d.buf) < *off+8 {
		return 0
	}
	v := binary.LittleEndian.Uint64(d.buf[*off:])
	*off += 8
	return v
}

// bytesVal mirrors ConsumeBytes(n) as a value of the given kind.
func (d *decoder) bytesVal(off *int, n int, kind uint8) dval {
	if *off+n > len(d.buf) {
		return dval{kind: kind, z: true, n: int32(n)}
	}
	v := dval{kind: kind, off: int32(*off), n: int32(n)}
	*off += n
	return v
}

// utf16Text appends UTF16LEToUTF8 of b (odd or empty: b itself; trailing
// zero characters trimmed; unpaired surrogates as U+FFFD) to dst.
func utf16Text(dst, b []byte) []byte {
	if len(b) == 0 || len(b)%2 == 1 {
		return append(dst, b...)
	}
	n := len(b) / 2
	for n > 0 && b[2*n-2] == 0 && b[2*n-1] == 0 {
		n--
	}
	// ASCII first, four characters at a time, into room made for them
	// all; the rest (from the first other character) one at a time.
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out, in := dst[start:start+n], b[:2*n]
	i := 0
	for ; i+4 <= n; i += 4 {
		x := binary.LittleEndian.Uint64(in[2*i:])
		if x&0xFF80FF80FF80FF80 != 0 {
			break
		}
		out[i], out[i+1], out[i+2], out[i+3] = byte(x), byte(x>>16), byte(x>>32), byte(x>>48)
	}
	for ; i < n && in[2*i+1] == 0 && in[2*i] < utf8.RuneSelf; i++ {
		out[i] = in[2*i]
	}
	dst = dst[:start+i]
	for ; i < n; i++ {
		r := rune(b[2*i]) | rune(b[2*i+1])<<8
		switch {
		case r < utf8.RuneSelf:
			dst = append(dst, byte(r))
		case utf16.IsSurrogate(r):
			if r < 0xDC00 && i+1 < n {
				r2 := rune(b[2*i+2]) | rune(b[2*i+3])<<8
				if r2 >= 0xDC00 && r2 < 0xE000 {
					dst = utf8.AppendRune(dst, utf16.DecodeRune(r, r2))
					i++
					continue
				}
			}
			dst = utf8.AppendRune(dst, utf8.RuneError)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// isString reports whether the library's value of kind k is a Go string.
func isString(k uint8) bool {
	return k >= dvUTF16 && k <= dvSID
}

// text appends the string (or, for dvStrList, the joined list before
// trimming) a string-kind value stands for to dst.
func (d *decoder) text(dst []byte, v dval) []byte {
	var b []byte
	if !v.z {
		b = d.buf[v.off : v.off+v.n]
	}
	switch v.kind {
	case dvUTF16, dvStrList:
		start := len(dst)
		switch {
		case !v.z:
			dst = utf16Text(dst, b)
		case v.n%2 == 1:
			dst = append(dst, make([]byte, v.n)...) // odd: as they are
		}
		// (zeros of an even length are all trimmed)
		if v.kind == dvStrList {
			for i := start; i < len(dst); i++ {
				if dst[i] == 0 {
					dst[i] = ' '
				}
			}
		}
		return dst
	case dvRaw:
		if v.z {
			return append(dst, make([]byte, v.n)...)
		}
		return append(dst, b...)
	case dvRawTrim:
		if v.z {
			return dst
		}
		return append(dst, bytes.TrimRight(b, "\x00")...)
	case dvGUID:
		var g [16]byte
		if !v.z && v.n >= 16 {
			copy(g[:], b)
		}
		dst = hex(dst, uint64(binary.LittleEndian.Uint32(g[0:])), 8)
		dst = append(dst, '-')
		dst = hex(dst, uint64(binary.LittleEndian.Uint16(g[4:])), 4)
		dst = append(dst, '-')
		dst = hex(dst, uint64(binary.LittleEndian.Uint16(g[6:])), 4)
		dst = append(dst, '-')
		for i := 8; i < 16; i++ {
			if i == 10 {
				dst = append(dst, '-')
			}
			dst = hex(dst, uint64(g[i]), 2)
		}
		return dst
	case dvSID:
		off := int(v.off)
		dst = append(dst, "S-"...)
		dst = strconv.AppendUint(dst, uint64(d.u8(&off)), 10)
		d.u8(&off)
		var q uint64
		if off+6 <= len(d.buf) {
			for _, c := range d.buf[off : off+6] {
				q = q<<8 | uint64(c)
			}
			off += 6
		}
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, q, 10)
		for i := 0; i < int(v.n)-8; i += 4 {
			dst = append(dst, '-')
			dst = strconv.AppendUint(dst, uint64(d.u32(&off)), 10)
		}
		return dst
	}
	return dst
}

// hex appends v as width upper-case hex digits (as %0NX for values that
// fit).
func hex(dst []byte, v uint64, width int) []byte {
	const digits = "0123456789ABCDEF"
	for i := width - 1; i >= 0; i-- {
		dst = append(dst, digits[(v>>(4*uint(i)))&0xF])
	}
	return dst
}

// internString returns the key ID of s, adding it.
func (d *decoder) internString(s string) int32 {
	if id, ok := d.keyIDs[s]; ok {
		return id
	}
	if len(d.keys) >= decMaxKeys {
		d.decline("too many distinct names")
		return kEmpty
	}
	id := int32(len(d.keys))
	d.keyIDs[s] = id
	d.keys = append(d.keys, s)
	f := int16(-1)
	if fid, ok := winlog.LookupField([]byte(s)); ok {
		f = int16(fid)
	}
	d.keyFld = append(d.keyFld, f)
	return id
}

// intern returns the key ID of the string b holds.
func (d *decoder) intern(b []byte) int32 {
	if id, ok := d.keyIDs[string(b)]; ok {
		return id
	}
	return d.internString(string(b))
}

// valKeySlots is the size of decoder.valKeys (1<<valKeyBits), indexed by
// a multiplicative hash of the value's offset.
const valKeyBits = 10

const valKeySlots = 1 << valKeyBits

// valKey is one entry of decoder.valKeys: the value at off, n of kind
// has key ID id in chunk gen.
type valKey struct {
	off, n int32
	id     int32
	gen    uint32
	kind   uint8
}

// internVal returns the key ID of a string value. A value's text is
// fixed by its kind, offset and length within a chunk (the decoder does
// not write to the chunk), so the IDs of values read from the chunk are
// cached by offset.
func (d *decoder) internVal(v dval) int32 {
	if v.z {
		d.scratch = d.text(d.scratch[:0], v)
		return d.intern(d.scratch)
	}
	e := &d.valKeys[(uint32(v.off)*0x9E3779B1)>>(32-valKeyBits)]
	if e.gen == d.gen && e.off == v.off && e.n == v.n && e.kind == v.kind {
		return e.id
	}
	d.scratch = d.text(d.scratch[:0], v)
	id := d.intern(d.scratch)
	if d.fail == "" {
		*e = valKey{off: v.off, n: v.n, id: id, gen: d.gen, kind: v.kind}
	}
	return id
}

// name mirrors ReadName: inline, or a reference elsewhere in the chunk.
func (d *decoder) name(off *int) int32 {
	ref := int(d.u32(off))
	if ref != *off {
		tmp := ref + 6
		return d.nameAt(&tmp)
	}
	*off += 6
	return d.nameAt(off)
}

// nameAt mirrors ReadPrefixedUnicodeString(ctx, true) as a key.
func (d *decoder) nameAt(off *int) int32 {
	n := (int(d.u16(off)) + 1) * 2
	if *off+n > len(d.buf) {
		return kEmpty // zeros, all trimmed
	}
	b := d.buf[*off : *off+n]
	*off += n
	d.scratch = utf16Text(d.scratch[:0], b)
	return d.intern(d.scratch)
}

// newNode adds a node; past decMaxNodes it declines the chunk (the node
// is still added: the parse stops at its next token).
func (d *decoder) newNode() int32 {
	if len(d.nodes) >= decMaxNodes {
		d.decline("too many nodes")
	}
	d.nodes = append(d.nodes, tnode{first: -1, last: -1, next: -1})
	return int32(len(d.nodes) - 1)
}

// dictGet returns the child of p under key, or -1.
func (d *decoder) dictGet(p, key int32) int32 {
	for c := d.nodes[p].first; c >= 0; c = d.nodes[c].next {
		if d.nodes[c].key == key {
			return c
		}
	}
	return -1
}

// unlink removes child c from p's dict.
func (d *decoder) unlink(p, c int32) {
	n := &d.nodes[p]
	prev := int32(-1)
	for x := n.first; x >= 0; x = d.nodes[x].next {
		if x == c {
			break
		}
		prev = x
	}
	next := d.nodes[c].next
	if prev < 0 {
		n.first = next
	} else {
		d.nodes[prev].next = next
	}
	if n.last == c {
		n.last = prev
	}
	d.nodes[c].next = -1
	n.n--
}

// appendChild adds c at the end of p's dict or array.
func (d *decoder) appendChild(p, c int32) {
	d.nodes[c].next = -1
	n := &d.nodes[p]
	if n.last < 0 {
		n.first = c
	} else {
		d.nodes[n.last].next = c
	}
	n.last = c
	n.n++
}

// dictSet mirrors NestedDict.Set: a key set again moves to the end.
func (d *decoder) dictSet(p, key, c int32) {
	d.nodes[p].flags |= tnDict
	if e := d.dictGet(p, key); e >= 0 {
		d.unlink(p, e)
	}
	d.nodes[c].key = key
	d.appendChild(p, c)
	if d.nodes[p].n > decMaxChildren {
		d.decline("element with too many members")
	}
}

// setNested mirrors TemplateNode.SetNested: a repeated key becomes an
// array.
func (d *decoder) setNested(p, key, c int32) {
	d.nodes[p].flags |= tnDict
	e := d.dictGet(p, key)
	if e < 0 {
		d.dictSet(p, key, c)
		return
	}
	if d.nodes[e].flags&tnArr != 0 {
		d.appendChild(e, c)
		return
	}
	d.unlink(p, e)
	a := d.newNode()
	d.nodes[a].flags = tnArr
	d.appendChild(a, e)
	d.appendChild(a, c)
	d.dictSet(p, key, a)
}

// setLiteral mirrors TemplateNode.SetLiteral (xmlns keys dropped).
func (d *decoder) setLiteral(p, key int32, v dval) {
	d.nodes[p].flags |= tnDict
	if key == kXmlns {
		return
	}
	c := d.newNode()
	d.nodes[c].flags = tnLit
	d.nodes[c].lit = v
	d.dictSet(p, key, c)
}

// setExpansion mirrors TemplateNode.SetExpansion.
func (d *decoder) setExpansion(p, key int32, id uint16) {
	c := d.newNode()
	d.nodes[c].id = id
	d.dictSet(p, key, c)
}

// top is the context's CurrentTemplate (its stack is never empty: a pop
// to empty declines).
func (d *decoder) top() int32 { return d.stack[len(d.stack)-1] }

// curKey mirrors ParseContext.CurrentKey.
func (d *decoder) curKey(c *dctx) int32 {
	if !c.attr {
		return kEmpty
	}
	return d.nodes[d.top()].curKey
}

// parse mirrors ParseBinXML; it returns the context as the parse left
// it. (By value: a context behind a pointer escapes the recursion.)
func (d *decoder) parse(c dctx, depth int) dctx {
	if depth > bxMaxDepth {
		d.decline("binary XML nested too deep")
		return c
	}
	for d.fail == "" {
		tag := d.u8(&c.off)
		switch tag {
		case 0x00:
			return c
		case 0x01, 0x41: // open start element
			c.off += 6
			k := d.name(&c.off)
			if tag == 0x41 {
				d.u32(&c.off)
			}
			n := d.newNode()
			d.setNested(d.top(), k, n)
			d.stack = append(d.stack, n)
		case 0x02: // close start element
			c.attr = false
			d.nodes[d.top()].curKey = kEmpty
		case 0x03, 0x04: // close (empty) element
			if len(d.stack)-1 <= c.base {
				d.decline("element closed past the root")
				return c
			}
			d.stack = d.stack[:len(d.stack)-1]
		case 0x05, 0x45: // value text
			d.u8(&c.off)
			n := int(d.u16(&c.off)) * 2
			v := d.bytesVal(&c.off, n, dvUTF16)
			d.setLiteral(d.top(), d.curKey(&c), v)
			c.attr = false
		case 0x06, 0x46: // attribute
			k := d.name(&c.off)
			d.nodes[d.top()].curKey = k
			c.attr = true
		case 0x07, 0x47, 0x08, 0x48, 0x09, 0x49, 0x0A, 0x0B:
		case 0x0C: // template instance
			if c.body {
				d.decline("template instance in a template body")
				return c
			}
			if !d.instance(&c, depth) {
				return c
			}
		case 0x0D, 0x0E: // substitution
			id := d.u16(&c.off)
			if d.u8(&c.off) == 0 {
				d.u8(&c.off)
			}
			d.setExpansion(d.top(), d.curKey(&c), id)
		case 0x0F: // fragment header
			c.off += 3
		default:
			return c
		}
	}
	return c
}

// instance mirrors ParseTemplateInstance; false stops the enclosing parse.
func (d *decoder) instance(c *dctx, depth int) bool {
	if d.u8(&c.off) != 0x01 {
		return false
	}
	id := d.u32(&c.off)
	if id == 0 {
		return false
	}
	c.off += 4
	numArgs := int(d.u32(&c.off))
	root, ok := d.known[id]
	if !ok {
		c.off += 16
		bodyLen := int(d.u32(&c.off))
		root = d.newNode()
		d.known[id] = root // before its body, as the library does
		body := dctx{off: c.off, base: len(d.stack), body: true}
		d.stack = append(d.stack, root)
		d.parse(body, depth+1)
		d.stack = d.stack[:body.base]
		if d.fail != "" {
			return false
		}
		r := &d.nodes[root]
		if r.flags&tnDict == 0 || (r.n == 1 && d.nodes[r.first].key == kEmpty) {
			d.decline("template whose expansion is not its own dict")
			return false
		}
		c.off += bodyLen
		numArgs = int(d.u32(&c.off))
	}
	if remain := len(d.buf) - c.off; numArgs > 0 && numArgs > remain/4 {
		d.decline("template instance with more arguments than bytes")
		return false
	}
	dbase := len(d.descs)
	if numArgs > 0 {
		// The descriptors fit (checked above): read at once, as the
		// u16 pairs would.
		desc := d.buf[c.off : c.off+4*numArgs]
		for i := 0; i+4 <= len(desc); i += 4 {
			d.descs = append(d.descs, argDesc{size: int(binary.LittleEndian.Uint16(desc[i:])), typ: binary.LittleEndian.Uint16(desc[i+2:])})
		}
		c.off += len(desc)
	}
	base := len(d.args)
	for i := 0; i < numArgs && d.fail == ""; i++ {
		a := d.descs[dbase+i]
		var v dval
		switch a.typ {
		case 0x00:
			c.off += a.size
		case 0x01:
			v = d.bytesVal(&c.off, a.size, dvUTF16)
		case 0x04:
			v = dval{kind: dvUint, u: uint64(d.u8(&c.off))}
		case 0x06:
			v = dval{kind: dvUint, u: uint64(d.u16(&c.off))}
		case 0x08, 0x14:
			v = dval{kind: dvUint, u: uint64(d.u32(&c.off))}
		case 0x0A, 0x15:
			v = dval{kind: dvUint, u: d.u64(&c.off)}
		case 0x0D:
			var b bool
			switch a.size {
			case 8:
				b = d.u64(&c.off) > 0
			case 4:
				b = d.u32(&c.off) > 0
			case 2:
				b = d.u16(&c.off) > 0
			case 1:
				b = d.u8(&c.off) > 0
			}
			v = dval{kind: dvBool}
			if b {
				v.u = 1
			}
		case 0x0E:
			v = d.bytesVal(&c.off, a.size, dvBytes)
		case 0x0F:
			v = d.bytesVal(&c.off, a.size, dvGUID)
		case 0x11:
			v = dval{kind: dvFloat, u: math.Float64bits(filetimeSeconds(d.u64(&c.off)))}
		case 0x13:
			start := min(c.off, len(d.buf))
			d.u8(&c.off)
			d.u8(&c.off)
			if c.off+6 <= len(d.buf) {
				c.off += 6
			}
			for j := 0; j < a.size-8; j += 4 {
				d.u32(&c.off)
			}
			v = dval{kind: dvSID, off: int32(start), n: int32(a.size)}
		case 0x21:
			nested := dctx{off: c.off, base: len(d.stack)}
			d.stack = append(d.stack, d.newNode())
			d.parse(nested, depth+1)
			if d.fail == "" {
				v = d.expand(d.stack[len(d.stack)-1], argFrame{})
			}
			d.stack = d.stack[:nested.base]
			c.off += a.size
		case 0x27, 0x28:
			v = d.bytesVal(&c.off, a.size, dvRaw)
		case 0x81:
			v = d.bytesVal(&c.off, a.size, dvStrList)
		default:
			v = d.bytesVal(&c.off, a.size, dvRawTrim)
		}
		d.args = append(d.args, v)
	}
	d.descs = d.descs[:dbase]
	if d.fail != "" {
		d.args = d.args[:base]
		return false
	}
	v := d.expand(root, argFrame{base: base, n: numArgs, present: true})
	d.args = d.args[:base]
	if d.fail != "" {
		return false
	}
	d.normalize(v)
	if v.kind == dvNil {
		d.decline("template expands to nothing")
		return false
	}
	d.setLiteral(d.top(), d.curKey(c), v)
	return true
}

// filetimeSeconds is the library's filetimeToUnixtime, the same float
// expression.
func filetimeSeconds(ft uint64) float64 {
	return (float64(ft) - 11644473600000*10000) / 10000000
}

// tmpSet mirrors Dict.Set on the dict being built in d.tmpE[base:].
func (d *decoder) tmpSet(base int, key int32, v dval) { d.setIn(&d.tmpE, base, key, v) }

// setIn mirrors Dict.Set on the dict being built in (*dst)[base:].
func (d *decoder) setIn(dst *[]dent, base int, key int32, v dval) {
	t := (*dst)[base:]
	if len(t) >= decMaxChildren {
		d.decline("dict with too many members")
		return
	}
	for i := range t {
		if t[i].key == key {
			copy(t[i:], t[i+1:])
			t[len(t)-1] = dent{key: key, val: v}
			return
		}
	}
	*dst = append(*dst, dent{key: key, val: v})
}

// expand mirrors TemplateNode.Expand. (It adds no node: pointers into
// d.nodes stay valid across it.)
func (d *decoder) expand(p int32, a argFrame) dval {
	n := &d.nodes[p]
	switch {
	case n.flags&tnDict != 0:
		single := n.n == 1
		// A dict of leaves only (no child expansion adds entries) is
		// built where it ends up, in d.ents; any other in d.tmpE, then
		// copied there.
		leaves := true
		for c := n.first; c >= 0; c = d.nodes[c].next {
			if f := d.nodes[c].flags; f&tnDict != 0 || f&(tnLit|tnArr) == tnArr {
				leaves = false
				break
			}
		}
		dst := &d.tmpE
		if leaves {
			dst = &d.ents
		}
		base := len(*dst)
		// The node's keys are distinct: until its "" key (set as
		// "Value", or merged), each is new to the result.
		search := false
		for c := n.first; c >= 0; {
			cn := &d.nodes[c]
			k := cn.key
			// expand(c, a), in line for a leaf (a literal, a
			// substitution: most of a template's nodes).
			var ex dval
			switch {
			case cn.flags&tnDict != 0 || cn.flags&(tnLit|tnArr) == tnArr:
				ex = d.expand(c, a)
			case cn.flags&tnLit != 0:
				ex = cn.lit
			case a.present && int(cn.id) < a.n:
				ex = d.args[a.base+int(cn.id)]
			}
			c = cn.next
			if k != kEmpty && !search {
				if ex.kind != dvNil {
					*dst = append(*dst, dent{key: k, val: ex})
				}
				continue
			}
			if k == kEmpty {
				k = kValue
				search = true
				if single {
					*dst = (*dst)[:base]
					return ex
				}
				if ex.kind == dvDict {
					// (Entries made before this dict: below base, even
					// when dst is d.ents and grows.)
					for _, e := range d.ents[ex.off : ex.off+ex.n] {
						if e.val.kind != dvNil {
							d.setIn(dst, base, e.key, e.val)
						}
					}
					continue
				}
			}
			if ex.kind != dvNil {
				d.setIn(dst, base, k, ex)
			}
		}
		if leaves {
			if len(d.ents) > decMaxEnts {
				d.decline("too many dict entries")
			}
			return dval{kind: dvDict, off: int32(base), n: int32(len(d.ents) - base)}
		}
		if len(d.ents)+len(d.tmpE)-base > decMaxEnts {
			d.decline("too many dict entries")
		}
		v := dval{kind: dvDict, off: int32(len(d.ents)), n: int32(len(d.tmpE) - base)}
		d.ents = append(d.ents, d.tmpE[base:]...)
		d.tmpE = d.tmpE[:base]
		return v
	case n.flags&tnLit != 0:
		return n.lit
	case n.flags&tnArr != 0:
		base := len(d.tmpA)
		for c := n.first; c >= 0; c = d.nodes[c].next {
			d.tmpA = append(d.tmpA, d.expand(c, a))
		}
		if len(d.elems)+len(d.tmpA)-base > decMaxEnts {
			d.decline("too many array elements")
		}
		v := dval{kind: dvArray, off: int32(len(d.elems)), n: int32(len(d.tmpA) - base)}
		d.elems = append(d.elems, d.tmpA[base:]...)
		d.tmpA = d.tmpA[:base]
		return v
	case a.present:
		if int(n.id) < a.n {
			return d.args[a.base+int(n.id)]
		}
	}
	return dval{}
}

// get mirrors Dict.Get on an expanded dict.
func (d *decoder) get(v dval, key int32) (dval, bool) {
	if v.kind != dvDict {
		return dval{}, false
	}
	es := d.ents[v.off : v.off+v.n]
	for i := range es {
		if es[i].key == key {
			return es[i].val, true
		}
	}
	return dval{}, false
}

// normalize mirrors NormalizeEventData on a fresh expansion.
func (d *decoder) normalize(v dval) {
	ed, ok := d.get(v, kEventData)
	if !ok || ed.kind != dvDict {
		return
	}
	arr, ok := d.get(ed, kData)
	if !ok || arr.kind != dvArray {
		return
	}
	base := len(d.tmpE)
	for _, item := range d.elems[arr.off : arr.off+arr.n] {
		if item.kind != dvDict {
			d.dropSeen(base)
			return
		}
		name, ok := d.get(item, kName)
		if !ok || !isString(name.kind) {
			d.dropSeen(base)
			return
		}
		val, ok := d.get(item, kValue)
		if !ok {
			d.dropSeen(base)
			return
		}
		k := d.internVal(name)
		if w, b := k>>6, uint(k&63); d.seen[w]&(1<<b) == 0 && len(d.tmpE)-base < decMaxChildren {
			// A key not in the result yet: added at its end.
			d.seen[w] |= 1 << b
			d.tmpE = append(d.tmpE, dent{key: k, val: val})
		} else {
			d.tmpSet(base, k, val)
		}
	}
	res := dval{kind: dvDict, off: int32(len(d.ents)), n: int32(len(d.tmpE) - base)}
	d.ents = append(d.ents, d.tmpE[base:]...)
	d.dropSeen(base)
	// data.Set("EventData", result): the key moves to the end.
	t := d.ents[v.off : v.off+v.n]
	for i := range t {
		if t[i].key == kEventData {
			copy(t[i:], t[i+1:])
			t[len(t)-1] = dent{key: kEventData, val: res}
			return
		}
	}
}

// dropSeen ends the dict normalize builds in d.tmpE[base:]: its keys'
// marks in d.seen are cleared and it is dropped.
func (d *decoder) dropSeen(base int) {
	for _, e := range d.tmpE[base:] {
		d.seen[e.key>>6] &^= 1 << uint(e.key&63)
	}
	d.tmpE = d.tmpE[:base]
}

// dictAt mirrors map.go's dictAt.
func (d *decoder) dictAt(v dval, key int32) (dval, bool) {
	sub, ok := d.get(v, key)
	return sub, ok && sub.kind == dvDict
}

// fill mirrors fillEvtx on the expanded record v.
func (d *decoder) fill(r *winlog.Record, v dval) bool {
	r.Reset()
	if v.kind != dvDict {
		return false
	}
	event, ok := d.dictAt(v, kEvent)
	if !ok {
		return false
	}
	system, ok := d.dictAt(event, kSystem)
	if !ok {
		return false
	}
	if data, ok := d.dictAt(event, kEventData); ok {
		d.fillData(r, data)
	}
	if x, ok := d.get(system, kEventID); ok {
		if x.kind == dvDict {
			x, _ = d.get(x, kValue)
		}
		d.set(r, winlog.FieldEventID, x)
	}
	if x, ok := d.get(system, kChannel); ok {
		d.set(r, winlog.FieldChannel, x)
	}
	if x, ok := d.get(system, kComputer); ok {
		d.set(r, winlog.FieldHost, x)
	}
	if p, ok := d.dictAt(system, kProvider); ok {
		if x, ok := d.get(p, kName); ok {
			d.set(r, winlog.FieldProvider, x)
		}
	}
	if tc, ok := d.dictAt(system, kTimeCreated); ok {
		if x, ok := d.get(tc, kSystemTime); ok {
			d.set(r, winlog.FieldTimeCreated, x)
		}
	}
	return true
}

// fillData mirrors fillEvtxData.
func (d *decoder) fillData(r *winlog.Record, data dval) {
	if raw, ok := d.get(data, kData); ok {
		switch raw.kind {
		case dvDict:
			d.fillNamed(r, raw)
		case dvArray:
			for _, it := range d.elems[raw.off : raw.off+raw.n] {
				if it.kind == dvDict {
					d.fillNamed(r, it)
				}
			}
		}
	}
	for _, e := range d.ents[data.off : data.off+data.n] {
		if f := d.keyFld[e.key]; f >= 0 {
			d.set(r, winlog.FieldID(f), e.val)
		}
	}
}

// fillNamed mirrors fillEvtxNamed.
func (d *decoder) fillNamed(r *winlog.Record, item dval) {
	n, ok := d.get(item, kName)
	if !ok || !isString(n.kind) {
		return
	}
	d.scratch = d.text(d.scratch[:0], n)
	f, ok := winlog.LookupField(d.scratch)
	if !ok {
		return
	}
	v, _ := d.get(item, kValue)
	d.set(r, f, v)
}

// set mirrors setEvtxValue.
func (d *decoder) set(r *winlog.Record, id winlog.FieldID, v dval) {
	switch {
	case isString(v.kind):
		d.scratch = d.text(d.scratch[:0], v)
		r.SetBytes(id, d.scratch)
	case v.kind == dvUint:
		r.SetUint(id, v.u)
	case v.kind == dvFloat:
		if f := math.Float64frombits(v.u); !math.IsNaN(f) {
			r.SetSeconds(id, f)
		}
	case v.kind == dvStrList:
		d.scratch = d.text(d.scratch[:0], v)
		r.SetBytes(id, bytes.TrimSpace(d.scratch))
	}
}
