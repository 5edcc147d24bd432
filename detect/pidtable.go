package detect

import "math/rand/v2"

// pidTable maps the PIDs of tracked instances to their slots. It replaces
// a map[uint32]int32 on the hot path (every start of a tracked PID or
// naming a tracked parent, every exit of one): open addressing with
// linear probing, at most half full, and backward-shift deletion, so
// that there are no tombstones and a lookup ends at the first empty
// entry. A lookup costs a hash (two multiplies) and one or two compares;
// it allocates only when the table grows. The hash is seeded at random
// for each table: PIDs in recorded data are whatever the file says, and
// with a fixed hash a forged log could put every tracked PID on one
// probe run (TestPIDTableCollidingPIDs).
type pidTable struct {
	e     []pidEntry
	n     int    // entries in use
	shift uint   // 64 - log2(len(e))
	seed  uint64 // mixed into every hash: random
}

// pidEntry is one entry of a pidTable. slot holds the instance slot plus
// one, so that the zero entry is empty and PID 0 can be a key.
type pidEntry struct {
	pid  uint32
	slot int32
}

// pidTableMin is a new table's size (a power of two).
const pidTableMin = 32

// newPIDTable returns an empty table with room for n PIDs before it grows.
func newPIDTable(n int) pidTable {
	size, shift := pidTableMin, uint(64-5)
	for size < 2*n {
		size *= 2
		shift--
	}
	return pidTable{e: make([]pidEntry, size), shift: shift, seed: rand.Uint64()}
}

// home is the index where pid's probe sequence begins: the seeded PID
// through a 64-bit multiply-xorshift-multiply mix, top bits.
func (t *pidTable) home(pid uint32) uint32 {
	x := (uint64(pid) ^ t.seed) * 0xff51afd7ed558ccd
	x ^= x >> 32
	return uint32((x * 0xc4ceb9fe1a85ec53) >> t.shift)
}

// len returns how many PIDs the table holds.
func (t *pidTable) len() int { return t.n }

// get returns the slot of pid, or -1 and false.
func (t *pidTable) get(pid uint32) (int32, bool) {
	mask := uint32(len(t.e) - 1)
	for i := t.home(pid); ; i = (i + 1) & mask {
		en := t.e[i&mask]
		if en.slot == 0 {
			return -1, false
		}
		if en.pid == pid {
			return en.slot - 1, true
		}
	}
}

// put maps pid to slot, replacing what pid was mapped to.
func (t *pidTable) put(pid uint32, slot int32) {
	if 2*(t.n+1) > len(t.e) {
		t.grow()
	}
	mask := uint32(len(t.e) - 1)
	for i := t.home(pid); ; i = (i + 1) & mask {
		en := &t.e[i&mask]
		if en.slot == 0 {
			en.pid, en.slot = pid, slot+1
			t.n++
			return
		}
		if en.pid == pid {
			en.slot = slot + 1
			return
		}
	}
}

// del removes pid, if present. The entries after it in its probe run
// that may move back into the hole (their probe sequence passes it) do,
// so that every entry stays reachable from its home without tombstones.
func (t *pidTable) del(pid uint32) {
	mask := uint32(len(t.e) - 1)
	i := t.home(pid)
	for {
		en := t.e[i&mask]
		if en.slot == 0 {
			return
		}
		if en.pid == pid {
			break
		}
		i = (i + 1) & mask
	}
	i &= mask
	for j := (i + 1) & mask; t.e[j].slot != 0; j = (j + 1) & mask {
		// The entry at j may fill the hole at i when i lies on its probe
		// sequence, from its home to j.
		if (j-t.home(t.e[j].pid))&mask >= (j-i)&mask {
			t.e[i] = t.e[j]
			i = j
		}
	}
	t.e[i] = pidEntry{}
	t.n--
}

// grow doubles the table and re-inserts every entry.
func (t *pidTable) grow() {
	old := t.e
	t.e = make([]pidEntry, 2*len(old))
	t.shift--
	t.n = 0
	for _, en := range old {
		if en.slot != 0 {
			t.put(en.pid, en.slot-1)
		}
	}
}
