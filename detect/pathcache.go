package detect

import "unsafe"

// pathCacheSize is the number of entries of an engine's path-verdict
// cache (a power of two).
const pathCacheSize = 64

// pathCache remembers the System32 verdicts of recent image paths by the
// identity of the string (its bytes' address and length). The live
// sensor's decoder hands out one string per distinct image path, so on a
// busy host the checks of csrss.exe, winlogon.exe and smss.exe itself are
// made once per path, not once per process; recorded data, whose strings
// are new for each record, only misses. The cache is cleared whenever the
// matcher changes (a boot record naming SystemRoot or a device).
type pathCache struct {
	e [pathCacheSize]pathCacheEntry
}

// pathCacheEntry holds the path string itself, not only its address: so
// that the collector cannot free its bytes and hand the same address to
// another path (a stale verdict would be an attacker's way past the
// image check). Go strings are immutable, and no source builds image
// strings over reused buffers.
type pathCacheEntry struct {
	s    string
	name string // "" or "smss.exe": what inSystem32 was asked
	v    pathVerdict
}

func (c *pathCache) clear() { *c = pathCache{} }

// inSystem32 is e.paths.inSystem32 through the cache.
func (e *Engine) inSystem32(path, name string) pathVerdict {
	if len(path) == 0 {
		return e.paths.inSystem32(path, name)
	}
	p := unsafe.StringData(path)
	slot := &e.pathCache.e[(uintptr(unsafe.Pointer(p))>>3^uintptr(len(path)))&(pathCacheSize-1)]
	if len(slot.s) == len(path) && unsafe.StringData(slot.s) == p && slot.name == name {
		return slot.v
	}
	v := e.paths.inSystem32(path, name)
	*slot = pathCacheEntry{s: path, name: name, v: v}
	return v
}
