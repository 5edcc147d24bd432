//go:build !amd64

package nxlog

// indexMark returns the index of the first `\u` or `D"` in b (the byte
// pair at that index and the next), or -1.
func indexMark(b []byte) int { return indexMarkGeneric(b) }
