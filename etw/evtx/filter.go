package evtx

import (
	"github.com/smsswatch/smsswatch/etw/winlog"
)

// The event ID filter. Of the records of a log only a few are of interest
// (winlog maps Sysmon 1, 5, 12, 13, 14; Security 4608, 4688, 4689; System
// 12 and 6005), yet the library's expansion of a record is most of the
// cost of reading it. A record whose event ID is none of these maps to
// nothing whatever its log (winlog.Mapper.Map returns neither an event nor
// a reason: an unknown log, or a log's uninteresting ID), provided its
// tree holds Event/System and that ID as a number. The binary XML check
// (binxmlCheck), which walks every record as the library will anyway,
// finds that ID when it is certain:
//
//   - the record's binary XML is a single template instance (fragment
//     headers aside), the library's tree of the record being then the
//     expansion of that template;
//   - the template's body, walked as the library builds its tree (bxShape),
//     gives exactly one Event element at its root, one System in it, one
//     EventID in that, and the EventID's content is exactly one
//     substitution, nothing else setting the same keys;
//   - that substitution's argument in the instance is an unsigned integer
//     (the types the library returns as uint8 to uint64), of at most 32
//     bits.
//
// Anything else (a literal EventID, an EventID element repeated, a foreign
// shape, a damaged record) is not judged: the record goes to the full
// parse and the mapper, as before.
//
// A record so rejected is blanked (its first binary XML byte zeroed) so
// that the library parses it as empty, unless another record needs it:
// one that defines a template a kept record instantiates (the library
// registers templates on first use, chunk-wide), or whose first byte a
// kept record reads (a name reference). Kept records are then parsed
// exactly as in the full parse: the same bytes, the same templates.

// interestingID reports whether winlog maps records with event ID id in
// any log.
func interestingID(id uint64) bool {
	switch id {
	case winlog.SysmonProcessCreate, winlog.SysmonProcessTerminate,
		winlog.SysmonRegistryObject, winlog.SysmonRegistrySetValue, winlog.SysmonRegistryRename,
		winlog.SecurityProcessCreate, winlog.SecurityProcessExit, winlog.SecurityStartup,
		winlog.SystemEventLogStart: // winlog.SystemKernelStart is 12 too
		return true
	}
	return false
}

// interestingID lists SystemKernelStart as SysmonRegistryObject: a
// compile-time check that they stay equal.
var _ = [1]struct{}{}[winlog.SystemKernelStart-winlog.SysmonRegistryObject]

// filterable reports whether a record whose tree certainly holds event ID
// id at Event/System/EventID maps to nothing, no event and no reason.
func filterable(id uint64) bool {
	return id <= 0xFFFFFFFF && !interestingID(id)
}

// Name classes, for the shape walk.
const (
	nameEmpty int8 = iota // "" (after the library trims trailing NULs)
	nameOther
	nameEvent
	nameSystem
	nameEventID
	nameValue // the key the library gives a node's content
	nameXmlns // an attribute key the library drops
)

// classifyName classes a UTF-16LE name as the library decodes it
// (trailing NUL characters trimmed). A name of non-ASCII characters
// decodes to non-ASCII text, so a character-wise match is exact.
func classifyName(b []byte) int8 {
	for len(b) >= 2 && b[len(b)-1] == 0 && b[len(b)-2] == 0 {
		b = b[:len(b)-2]
	}
	if len(b) == 0 {
		return nameEmpty
	}
	switch {
	case utf16Is(b, "Event"):
		return nameEvent
	case utf16Is(b, "System"):
		return nameSystem
	case utf16Is(b, "EventID"):
		return nameEventID
	case utf16Is(b, "Value"):
		return nameValue
	case utf16Is(b, "xmlns"):
		return nameXmlns
	}
	return nameOther
}

// utf16Is reports whether b is s (ASCII) in UTF-16LE.
func utf16Is(b []byte, s string) bool {
	if len(b) != 2*len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b[2*i] != s[i] || b[2*i+1] != 0 {
			return false
		}
	}
	return true
}

// Path nodes of the template tree: the template's root, then its Event,
// System and EventID elements; -1 is any other node.
const (
	pathRoot int8 = iota
	pathEvent
	pathSystem
	pathEventID
	pathOther int8 = -1
)

// pathChild is the element name leading from each path node to the next.
var pathChild = [3]int8{nameEvent, nameSystem, nameEventID}

// bxShape follows a template body as the library builds its tree
// (ParseContext: a stack of nodes, each with the attribute key being
// set, and the attribute mode), for the path nodes only. Every key set
// on a path node is accounted for: the key leading to the next path node
// must be set once, by that element; an empty key (which the library's
// Expand folds into its parent) must not be set at all above EventID, and
// on EventID exactly once, by a substitution, with no "Value" key beside
// it.
type bxShape struct {
	stack    []int8
	keys     [4]int8 // the class of each path node's attribute key
	attr     bool    // attribute mode
	target   [4]int  // sets of each path node's key of interest
	arg      int     // the EventID's substitution
	merges   [bxMaxMerges]int
	nMerges  int
	rootKeys uint32 // the classes of keys set on the root (bits)
	bad      bool
}

// bxMaxMerges bounds the substitutions a template may merge into its
// path nodes (Sysmon and Security merge their EventData so, once).
const bxMaxMerges = 4

func (s *bxShape) reset() {
	s.stack = append(s.stack[:0], pathRoot)
	s.keys = [4]int8{}
	s.attr = false
	s.target = [4]int{}
	s.arg = -1
	s.nMerges = 0
	s.rootKeys = 0
	s.bad = false
}

// cur is the node being built (the library's CurrentTemplate; with its
// stack empty, a fresh node attached to nothing).
func (s *bxShape) cur() int8 {
	if len(s.stack) == 0 {
		return pathOther
	}
	return s.stack[len(s.stack)-1]
}

// key is the class of the library's CurrentKey on a path node.
func (s *bxShape) key(p int8) int8 {
	if !s.attr {
		return nameEmpty
	}
	return s.keys[p]
}

// open mirrors ParseOpenStartElement: the element is set, under its
// name, on the current node and becomes the current node.
func (s *bxShape) open(name int8) {
	p, child := s.cur(), pathOther
	switch {
	case p == pathOther:
	case p == pathEventID:
		s.bad = true
	default:
		if name == nameEmpty {
			s.bad = true
		}
		if p == pathRoot {
			s.rootKeys |= 1 << uint(name)
		}
		if name == pathChild[p] {
			s.target[p]++
			if s.target[p] == 1 {
				child = p + 1
				s.keys[child] = nameEmpty
			} else {
				s.bad = true // an array, or replaced
			}
		}
	}
	s.stack = append(s.stack, child)
}

// closeStart mirrors ParseCloseStartElement.
func (s *bxShape) closeStart() {
	s.attr = false
	if p := s.cur(); p != pathOther {
		s.keys[p] = nameEmpty
	}
}

// pop mirrors ParseCloseElement.
func (s *bxShape) pop() {
	if len(s.stack) > 0 {
		s.stack = s.stack[:len(s.stack)-1]
	}
}

// attribute mirrors ParseAttributes.
func (s *bxShape) attribute(name int8) {
	if p := s.cur(); p != pathOther {
		s.keys[p] = name
	}
	s.attr = true
}

// op accounts for a value set on the current node under its current key:
// a literal (SetLiteral: a value text or a template instance; the xmlns
// key is dropped) or a substitution (SetExpansion) with argument id.
func (s *bxShape) op(literal, literalText, subst bool, id int) {
	p := s.cur()
	if p == pathOther {
		return
	}
	k := s.key(p)
	if literal && k == nameXmlns {
		return
	}
	if p == pathRoot {
		s.rootKeys |= 1 << uint(k)
	}
	if p != pathEventID {
		switch {
		case k == pathChild[p]:
			s.bad = true
		case k != nameEmpty:
		case subst:
			// The library's Expand merges the argument's tree, when it
			// is one, into this node: checked per record.
			if s.nMerges == len(s.merges) {
				s.bad = true
				return
			}
			s.merges[s.nMerges] = id
			s.nMerges++
		case !literalText:
			s.bad = true // a template's tree merged in
		}
		return
	}
	switch k {
	case nameValue:
		s.bad = true
	case nameEmpty:
		s.target[pathEventID]++
		if !subst || s.target[pathEventID] > 1 {
			s.bad = true
		}
		s.arg = id
	}
}

// done stores in t what the shape says of its template: the EventID's
// argument when the shape is plain, the arguments merged into path nodes,
// and whether its expansion's top keys are none of the path's (so that
// merged into a path node of another, it changes none of the path).
func (s *bxShape) done(t *bxTemplate) {
	t.idOK = !s.bad && s.arg >= 0 && s.target == [4]int{1, 1, 1, 1}
	t.idArg = s.arg
	t.merges, t.nMerges = s.merges, s.nMerges
	const pathKeys = 1<<nameEmpty | 1<<nameEvent | 1<<nameSystem | 1<<nameEventID
	t.rootSafe = s.rootKeys&pathKeys == 0
}

// filterChunk decides which of the chunk's walked records (checked,
// e.walk[i].eventID set when certain) the library need not expand, and
// blanks them: the ones whose event ID is filterable, unless a kept
// record needs them (see above). It walks the records back to front,
// collecting the templates the kept ones instantiate.
func (e *Reader) filterChunk() {
	c := &e.check
	if e.want == nil {
		e.want = make(map[uint32]struct{})
	}
	clear(e.want)
	for i := len(e.walk) - 1; i >= 0; i-- {
		w := &e.walk[i]
		if w.reject != "" {
			continue // blanked already; its templates were forgotten
		}
		start := w.off + evtxRecordHeader
		keep := !w.filtered || c.pinned[start>>6]&(1<<uint(start&63)) != 0
		for _, id := range c.defs[w.defs[0]:w.defs[1]] {
			if keep {
				break
			}
			_, keep = e.want[id]
		}
		if !keep {
			e.buf[start] = 0 // end of binary XML: parsed as empty
			continue
		}
		w.filtered = false
		for _, id := range c.uses[w.uses[0]:w.uses[1]] {
			e.want[id] = struct{}{}
		}
	}
}
