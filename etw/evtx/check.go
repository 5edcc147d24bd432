package evtx

import (
	"encoding/binary"
	"math/bits"
)

// The EVTX library (www.velocidex.com/golang/evtx v0.2.0) parses a chunk's
// binary XML without bounds on the work it does: a template instance may
// announce four billion arguments (the library then appends that many
// descriptors: tens of GB), BinXml arguments re-parse the same bytes once
// per argument at every nesting level (exponential time), a SID argument
// is formatted in quadratic time, and template expansion copies whole
// trees per instance. Any of these, in an attacker-written EVTX file,
// would kill the process (out of memory) or hang it.
//
// binxmlCheck walks a chunk's binary XML exactly as the library will (same
// offsets, same template table, same recursion) without building anything,
// and charges every step an estimate of the memory the library would
// allocate for it. A record whose walk is structurally absurd or goes over
// budget is rejected before the library sees it (the reader then blanks
// its binary XML so the library parses it as empty). Only the offsets and
// the template table decide the library's control flow, so the walk keeps
// nothing else.

// Costs, in estimated bytes allocated by the library.
const (
	bxNodeCost   = 256 // a TemplateNode with its ordered dict entry
	bxArgCost    = 64  // an argument descriptor and its map entry
	bxStepCost   = 1   // a token read
	bxStringCost = 4   // per byte of UTF-16 decoded (slice, runes, string)
	// bxRecordBudget bounds one record; bxChunkBudget all the records of
	// a chunk the library parses at once (their trees are kept together
	// until mapped). Real files cost at most ~100 kB a record and ~3 MB a
	// chunk (Sysmon and Security logs measured).
	bxRecordBudget = 8 << 20
	bxChunkBudget  = 48 << 20
	// bxMaxSID is the longest binary SID (revision, count, authority and
	// 15 sub-authorities).
	bxMaxSID = 8 + 15*4
)

// bxTemplate is a template known to the chunk: its tree size in nodes
// (growing while its definition is being walked), and where its
// Event/System/EventID value comes from (see bxShape).
type bxTemplate struct {
	nodes    int64
	idOK     bool // the EventID is exactly argument idArg
	idArg    int
	merges   [bxMaxMerges]int // arguments merged into path nodes
	nMerges  int
	rootSafe bool // its expansion's top keys are none of the path's
}

// binxmlCheck mirrors the library's ParseBinXML over one chunk buffer.
type binxmlCheck struct {
	buf    []byte
	known  map[uint32]*bxTemplate
	added  []uint32 // templates defined by the record being checked
	budget int64    // what the current record may still spend
	spent  int64
	fail   string
	args   []bxArg // descriptor stack shared by nested instances

	// For the event ID filter (see filter.go): the template IDs each
	// record instantiates (uses) and defines (defs), chunk-wide, the
	// record-level judgement, and the template bodies' shapes.
	uses, defs []uint32
	top        bxLevel
	shapes     []*bxShape // one per template body being walked
	nShapes    int
	// starts marks every record's first binary XML byte (the one a
	// filtered record has blanked); pinned those another record reads.
	// lo, hi is the span of the record being checked.
	starts, pinned [evtxChunkSize / 64]uint64
	lo, hi         int
}

type bxArg struct {
	size int
	typ  uint16
}

// bxCtx is the library's ParseContext reduced to what steers it: the
// offset, and the node counter of the template being built.
type bxCtx struct {
	off   int
	nodes *int64
	lvl   *bxLevel // a record's own binary XML, or a BinXml argument's
	shape *bxShape // the template body being walked, if any
}

// bxLevel follows a record's own binary XML, or a BinXml argument's
// (whose tree the library builds anew): when it is one template instance
// (tokens 1), what that instance's expansion is known to hold.
type bxLevel struct {
	tokens   int    // tokens but fragment headers and the end
	id       uint64 // the event ID the instance gives
	idOK     bool
	rootSafe bool // the instance's template is rootSafe
}

// resetChunk starts checking a new chunk held in buf.
func (c *binxmlCheck) resetChunk(buf []byte) {
	c.buf = buf
	if c.known == nil {
		c.known = make(map[uint32]*bxTemplate)
	}
	clear(c.known)
	c.uses, c.defs = c.uses[:0], c.defs[:0]
}

// checkRecord walks the binary XML of the record at off (the library
// starts it at the record header + 24) with at most budget to spend. It
// returns what it spent, or a reason to reject the record; a rejected
// record's template definitions are forgotten, as the library will never
// see them.
func (c *binxmlCheck) checkRecord(off, end int, budget int64) (spent int64, reason string) {
	c.added = c.added[:0]
	c.budget, c.spent, c.fail = budget, 0, ""
	c.args = c.args[:0]
	c.top, c.nShapes = bxLevel{}, 0
	c.lo, c.hi = off, end
	var root int64
	c.parse(&bxCtx{off: off, nodes: &root, lvl: &c.top}, 0)
	if c.fail != "" {
		for _, id := range c.added {
			delete(c.known, id)
		}
		return 0, c.fail
	}
	c.defs = append(c.defs, c.added...)
	return c.spent, ""
}

// recordEventID returns the event ID the library's tree of the record
// just checked will hold at Event/System/EventID, when the record's
// binary XML has the one shape that makes it certain: one template
// instance and nothing else, of a template whose shape is plain (see
// bxShape), whose EventID argument is an unsigned integer.
func (c *binxmlCheck) recordEventID() (uint64, bool) {
	return c.top.id, c.fail == "" && c.top.idOK && c.top.tokens == 1
}

// touch notes a read of n bytes at off by the record being checked: one
// reaching another record's first binary XML byte pins that record (it
// must not be blanked).
func (c *binxmlCheck) touch(off, n int) {
	if off >= c.lo && off+n <= c.hi {
		return // its own bytes: no other record starts there
	}
	c.touchOthers(off, n)
}

// touchOthers is touch of bytes not all the record's own (out of line,
// so that touch's test inlines into every read).
func (c *binxmlCheck) touchOthers(off, n int) {
	for p, end := off, min(off+n, len(c.buf)); p < end; {
		w, b := p>>6, uint(p&63)
		lim := min(end-p, 64-int(b))
		word := c.starts[w] >> b
		if lim < 64 {
			word &= 1<<uint(lim) - 1
		}
		for word != 0 {
			q := p + bits.TrailingZeros64(word)
			word &= word - 1
			if q != c.lo {
				c.pinned[q>>6] |= 1 << uint(q&63)
			}
		}
		p += lim
	}
}

func (c *binxmlCheck) charge(n int64) bool {
	if c.fail != "" {
		return false
	}
	c.spent += n
	if c.spent > c.budget {
		c.fail = "binary XML too costly to expand"
		return false
	}
	return true
}

func (c *binxmlCheck) reject(reason string) {
	if c.fail == "" {
		c.fail = reason
	}
}

// The Consume* helpers behave as the library's: reading past the end
// yields zero and does not move.
func (c *binxmlCheck) u8(x *bxCtx) uint8 {
	if x.off < 0 || len(c.buf) < x.off+1 {
		return 0
	}
	c.touch(x.off, 1)
	v := c.buf[x.off]
	x.off++
	return v
}

func (c *binxmlCheck) u16(x *bxCtx) uint16 {
	if x.off < 0 || len(c.buf) < x.off+2 {
		return 0
	}
	c.touch(x.off, 2)
	v := binary.LittleEndian.Uint16(c.buf[x.off:])
	x.off += 2
	return v
}

func (c *binxmlCheck) u32(x *bxCtx) uint32 {
	if x.off < 0 || len(c.buf) < x.off+4 {
		return 0
	}
	c.touch(x.off, 4)
	v := binary.LittleEndian.Uint32(c.buf[x.off:])
	x.off += 4
	return v
}

func (c *binxmlCheck) u64(x *bxCtx) uint64 {
	if x.off < 0 || len(c.buf) < x.off+8 {
		return 0
	}
	c.touch(x.off, 8)
	v := binary.LittleEndian.Uint64(c.buf[x.off:])
	x.off += 8
	return v
}

// bytes mirrors ConsumeBytes: past the end the library allocates a zeroed
// slice of that size and does not move.
func (c *binxmlCheck) bytes(x *bxCtx, n int) {
	if x.off+n > len(c.buf) {
		c.charge(int64(n))
		return
	}
	if n > 0 && x.off >= 0 {
		c.touch(x.off, n)
	}
	x.off += n
}

// prefixedString mirrors ReadPrefixedUnicodeString.
func (c *binxmlCheck) prefixedString(x *bxCtx, nullTerminated bool) {
	n := int(c.u16(x))
	if nullTerminated {
		n++
	}
	c.bytes(x, n*2)
	c.charge(int64(n*2) * bxStringCost)
}

// name mirrors ReadName: a name is either inline or a reference to one
// elsewhere in the chunk.
func (c *binxmlCheck) name(x *bxCtx) int8 {
	ref := int(c.u32(x))
	if ref != x.off {
		tmp := bxCtx{off: ref + 6}
		return c.nameString(&tmp, x.shape != nil)
	}
	x.off += 6
	return c.nameString(x, x.shape != nil)
}

// nameString is prefixedString(x, true) for a name; when classify is set
// it also returns the name's class (see classifyName).
func (c *binxmlCheck) nameString(x *bxCtx, classify bool) int8 {
	n := int(c.u16(x)) + 1
	at := x.off
	c.bytes(x, n*2)
	c.charge(int64(n*2) * bxStringCost)
	if !classify {
		return nameOther
	}
	if at+n*2 > len(c.buf) {
		return nameEmpty // the library reads zeros
	}
	return classifyName(c.buf[at : at+n*2])
}

// node counts one TemplateNode built by the library.
func (c *binxmlCheck) node(x *bxCtx, n int64) {
	*x.nodes += n
	c.charge(n * bxNodeCost)
}

// maxDepth bounds recursion; every level consumes bytes of a 64 KiB chunk,
// so real data stays far below it.
const bxMaxDepth = 4096

// parse mirrors ParseBinXML.
func (c *binxmlCheck) parse(x *bxCtx, depth int) {
	if depth > bxMaxDepth {
		c.reject("binary XML nested too deep")
		return
	}
	for c.charge(bxStepCost) {
		tag := c.u8(x)
		if x.lvl != nil && tag != 0x00 && tag != 0x0F {
			x.lvl.tokens++
		}
		switch tag {
		case 0x00:
			return
		case 0x01, 0x41: // open start element
			x.off += 6
			n := c.name(x)
			if tag == 0x41 {
				c.u32(x)
			}
			c.node(x, 2) // the element, and an array when the name repeats
			if x.shape != nil {
				x.shape.open(n)
			}
		case 0x02: // close start element
			if x.shape != nil {
				x.shape.closeStart()
			}
		case 0x03, 0x04: // close (empty) element
			if x.shape != nil {
				x.shape.pop()
			}
		case 0x05, 0x45: // value text
			c.u8(x)
			c.prefixedString(x, false)
			c.node(x, 1)
			if x.shape != nil {
				x.shape.op(true, true, false, 0)
				x.shape.attr = false
			}
		case 0x06, 0x46: // attribute
			n := c.name(x)
			if x.shape != nil {
				x.shape.attribute(n)
			}
		case 0x07, 0x47, 0x08, 0x48, 0x09, 0x49, 0x0A, 0x0B:
		case 0x0C: // template instance
			if !c.templateInstance(x, depth) {
				return
			}
			if x.shape != nil {
				x.shape.op(true, false, false, 0)
			}
		case 0x0D, 0x0E: // substitution
			id := c.u16(x)
			if c.u8(x) == 0 {
				c.u8(x)
			}
			c.node(x, 1)
			if x.shape != nil {
				x.shape.op(false, false, true, int(id))
			}
		case 0x0F: // fragment header
			x.off += 3
		default:
			return
		}
	}
}

// templateInstance mirrors ParseTemplateInstance; false stops the
// enclosing parse as the library's does.
func (c *binxmlCheck) templateInstance(x *bxCtx, depth int) bool {
	if c.u8(x) != 0x01 {
		return false
	}
	id := c.u32(x)
	if id == 0 {
		return false
	}
	x.off += 4
	numArgs := int64(c.u32(x))
	// The record's own instance, first of its tokens, gives the event ID
	// (recordEventID).
	judge := x.lvl != nil && x.lvl.tokens == 1
	t, ok := c.known[id]
	if ok {
		c.uses = append(c.uses, id)
	} else {
		x.off += 16
		bodyLen := int(c.u32(x))
		t = &bxTemplate{}
		c.known[id] = t // registered before its body, as the library does
		c.added = append(c.added, id)
		if c.nShapes == len(c.shapes) {
			c.shapes = append(c.shapes, &bxShape{})
		}
		sh := c.shapes[c.nShapes]
		c.nShapes++
		sh.reset()
		body := bxCtx{off: x.off, nodes: &t.nodes, shape: sh}
		c.parse(&body, depth+1)
		c.nShapes--
		if c.fail != "" {
			return false
		}
		sh.done(t)
		x.off += bodyLen
		numArgs = int64(c.u32(x))
	}
	want := -1
	if judge && t.idOK {
		want = t.idArg
	}
	var idv uint64
	idok, mergeBad := false, false
	// Every descriptor takes 4 bytes: more than the chunk can hold is
	// not a template instance but a memory bomb.
	if remain := int64(len(c.buf) - x.off); numArgs > 0 && numArgs > remain/4 {
		c.reject("template instance with more arguments than bytes")
		return false
	}
	if !c.charge(numArgs * bxArgCost) {
		return false
	}
	base := len(c.args)
	if x.off >= 0 && numArgs > 0 {
		// The descriptors fit (checked above): read at once, as the
		// u16 pairs would.
		desc := c.buf[x.off : x.off+4*int(numArgs)]
		c.touch(x.off, len(desc))
		for i := 0; i+4 <= len(desc); i += 4 {
			c.args = append(c.args, bxArg{size: int(binary.LittleEndian.Uint16(desc[i:])), typ: binary.LittleEndian.Uint16(desc[i+2:])})
		}
		x.off += len(desc)
	} else {
		for i := int64(0); i < numArgs; i++ {
			size := int(c.u16(x))
			typ := c.u16(x)
			c.args = append(c.args, bxArg{size: size, typ: typ})
		}
	}
	for i := base; i < len(c.args) && c.fail == ""; i++ {
		a := c.args[i]
		switch a.typ {
		case 0x00:
			x.off += a.size
		case 0x01: // UTF-16 string
			c.bytes(x, a.size)
			c.charge(int64(a.size) * bxStringCost)
		case 0x04:
			v := c.u8(x)
			if i-base == want {
				idv, idok = uint64(v), true
			}
		case 0x06:
			v := c.u16(x)
			if i-base == want {
				idv, idok = uint64(v), true
			}
		case 0x08, 0x14:
			v := c.u32(x)
			if i-base == want {
				idv, idok = uint64(v), true
			}
		case 0x0A, 0x15:
			v := c.u64(x)
			if i-base == want {
				idv, idok = v, true
			}
		case 0x11:
			c.u64(x)
		case 0x0D:
			switch a.size {
			case 8:
				c.u64(x)
			case 4:
				c.u32(x)
			case 2:
				c.u16(x)
			case 1:
				c.u8(x)
			}
		case 0x13: // SID: formatted in quadratic time, so bounded
			if a.size > bxMaxSID {
				c.reject("SID argument too long")
				return false
			}
			c.u8(x)
			c.u8(x)
			c.bytes(x, 6)
			for j := 0; j < a.size-8; j += 4 {
				c.u32(x)
			}
			c.charge(int64(a.size) * 8)
		case 0x21: // nested binary XML, parsed in place
			var nodes int64
			var lvl bxLevel
			nested := bxCtx{off: x.off, nodes: &nodes, lvl: &lvl}
			c.parse(&nested, depth+1)
			if want >= 0 && !(lvl.tokens == 1 && lvl.rootSafe) {
				// A tree merged into a path node must hold none of
				// the path's keys.
				for _, m := range t.merges[:t.nMerges] {
					mergeBad = mergeBad || m == i-base
				}
			}
			c.charge(nodes * bxNodeCost) // its expansion
			x.off += a.size
		case 0x81: // list of UTF-16 strings
			c.bytes(x, a.size)
			c.charge(int64(a.size) * bxStringCost * 2)
		default: // binary, GUID, ANSI strings and unknown types
			c.bytes(x, a.size)
			c.charge(int64(a.size) * 2)
		}
	}
	c.args = c.args[:base]
	if c.fail != "" {
		return false
	}
	// Expanding the template copies its tree; the result becomes one
	// literal of the current node.
	c.charge((t.nodes + 1) * bxNodeCost)
	c.node(x, 1)
	if c.fail != "" {
		return false
	}
	if judge {
		x.lvl.rootSafe = t.rootSafe
		x.lvl.id, x.lvl.idOK = idv, idok && !mergeBad
	}
	return true
}
