package nxlog

// indexMarkSSE2 is indexMark's vector loop (mark_amd64.s): the index of
// the first `\u` or `D"` among the positions it covers, or -(stop+1),
// stop being the first position it did not look at.
//
//go:noescape
func indexMarkSSE2(b []byte) int

// indexMark returns the index of the first `\u` or `D"` in b (the byte
// pair at that index and the next), or -1. The line filter finds both the
// \u escapes and the ends of EventID member names with it in one pass
// over the line, sixteen positions at a time, stopping only there.
func indexMark(b []byte) int {
	r := indexMarkSSE2(b)
	if r >= 0 {
		return r
	}
	return indexMarkFrom(b, -r-1)
}

// indexMarkFrom is indexMark's scalar loop from position i: the index of
// the first `\u` or `D"` at or after i, or -1.
func indexMarkFrom(b []byte, i int) int {
	for ; i+1 < len(b); i++ {
		switch c := b[i]; {
		case c == '\\' && b[i+1] == 'u', c == 'D' && b[i+1] == '"':
			return i
		}
	}
	return -1
}
