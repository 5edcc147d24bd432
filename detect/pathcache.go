package detect

import (
	"unsafe"

	"github.com/smsswatch/smsswatch/etw"
)

// Both caches below are keyed by the identity of a string (its bytes'
// address and length) and are two-way set associative: a set holds its
// two most recent entries, newest first, so that two hot paths that hash
// to the same set do not evict each other at every process.
const (
	cacheSetBits = 5
	cacheSets    = 1 << cacheSetBits
	cacheWays    = 2
)

// identitySet returns the set of the string s, salted (a small integer
// that tells lookups of the same string apart). The address is mixed by
// a Fibonacci multiply and its top bits taken, so strings laid out at
// regular distances (literals, an arena) spread over the sets.
func identitySet(s string, salt int) int {
	h := uint64(uintptr(unsafe.Pointer(unsafe.StringData(s)))) ^ uint64(len(s))<<40 ^ uint64(salt)<<56
	return int((h * 0x9e3779b97f4a7c15) >> (64 - cacheSetBits))
}

// pathCache remembers the System32 verdicts of recent image paths by the
// identity of the string. The live sensor's decoder hands out one string
// per distinct image path, so on a busy host the checks of csrss.exe,
// winlogon.exe and smss.exe itself are made once per path, not once per
// process; recorded data, whose strings are new for each record, only
// misses. The cache is cleared whenever the matcher changes (a boot
// record naming SystemRoot or a device).
type pathCache struct {
	e [cacheSets][cacheWays]pathCacheEntry
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
	set := &e.pathCache.e[identitySet(path, len(name))]
	for i := range set {
		if en := &set[i]; len(en.s) == len(path) && unsafe.StringData(en.s) == p && en.name == name {
			return en.v
		}
	}
	v := e.paths.inSystem32(path, name)
	set[1] = set[0]
	set[0] = pathCacheEntry{s: path, name: name, v: v}
	return v
}

// classCache remembers the base name and the name class (classifyName of
// the base name) of recent image paths by the identity of the string, as
// pathCache does: every process start's image is classified, and on the
// live path, where the decoder hands out one string per distinct image,
// that is once per path. Neither depends on anything but the path, so the
// cache is never cleared. Each entry holds its string, so its address
// cannot be reused for another path while the entry stands.
type classCache struct {
	e [cacheSets][cacheWays]classCacheEntry
}

type classCacheEntry struct {
	s     string
	base  int // where etw.BaseName(s) begins
	cls   nameClass
	exact bool // the base name is className[cls] in ASCII case (see nameOf)
}

// nameOf returns etw.BaseName(image) and its name class, through the
// cache, and whether the base name is its class's own name in ASCII case
// (exact: csrss.exe or CSRSS.EXE, not a lookalike or stream of it), for
// which an allow-list's answer is the class's (listedChild).
func (e *Engine) nameOf(image string) (base string, cls nameClass, exact bool) {
	if len(image) == 0 {
		return "", nameOther, false
	}
	p := unsafe.StringData(image)
	set := &e.classCache.e[identitySet(image, 0)]
	for i := range set {
		if en := &set[i]; len(en.s) == len(image) && unsafe.StringData(en.s) == p {
			return image[en.base:], en.cls, en.exact
		}
	}
	base = etw.BaseName(image)
	cls = classifyName(base)
	exact = cls != nameOther && equalFoldASCII(base, className[cls])
	set[1] = set[0]
	set[0] = classCacheEntry{s: image, base: len(image) - len(base), cls: cls, exact: exact}
	return base, cls, exact
}

// classify is the name class of image (classifyName(etw.BaseName(image))),
// through the cache. It is asked of every process start's image and of
// the parent image of every start the engine does not track, so it looks
// at both entries of the set itself (one hash, two compares each) and
// leaves only a miss to nameOf. An empty image may match an empty entry:
// both are nameOther.
func (e *Engine) classify(image string) nameClass {
	p := unsafe.StringData(image)
	set := &e.classCache.e[identitySet(image, 0)]
	if en := &set[0]; len(en.s) == len(image) && unsafe.StringData(en.s) == p {
		return en.cls
	}
	if en := &set[1]; len(en.s) == len(image) && unsafe.StringData(en.s) == p {
		return en.cls
	}
	_, cls, _ := e.nameOf(image)
	return cls
}
