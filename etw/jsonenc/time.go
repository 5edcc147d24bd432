package jsonenc

import "time"

// AppendTime appends t (Unix ns) as a quoted RFC 3339 UTC timestamp with
// nanoseconds, the form ECS @timestamp accepts, e.g.
// "2025-03-04T05:06:07.890123456Z". It formats by hand: this is the hot
// path of every alert.
func AppendTime(dst []byte, t int64) []byte {
	secs := t / 1e9
	ns := t % 1e9
	if ns < 0 {
		ns += 1e9
		secs--
	}
	days := secs / 86400
	sod := secs % 86400
	if sod < 0 {
		sod += 86400
		days--
	}
	if days < -719468 || days > 2932896 { // outside years 0..9999
		dst = append(dst, '"')
		dst = time.Unix(0, t).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z")
		return append(dst, '"')
	}
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		dst = append(dst, '"')
		dst = time.Unix(0, t).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z")
		return append(dst, '"')
	}
	hh, mm, ss := uint32(sod/3600), uint32(sod/60%60), uint32(sod%60)
	yy, n := uint32(y), uint32(ns)
	var b [32]byte
	b[0] = '"'
	put2(b[1:], yy/100)
	put2(b[3:], yy%100)
	b[5] = '-'
	put2(b[6:], uint32(m))
	b[8] = '-'
	put2(b[9:], uint32(d))
	b[11] = 'T'
	put2(b[12:], hh)
	b[14] = ':'
	put2(b[15:], mm)
	b[17] = ':'
	put2(b[18:], ss)
	b[20] = '.'
	b[21] = byte('0' + n/1e8)
	n %= 1e8
	put2(b[22:], n/1e6)
	put2(b[24:], n/1e4%100)
	put2(b[26:], n/100%100)
	put2(b[28:], n%100)
	b[30], b[31] = 'Z', '"'
	return append(dst, b[:]...)
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// put2 writes v (0..99) as two digits.
func put2(b []byte, v uint32) {
	b[1], b[0] = digitPairs[2*v+1], digitPairs[2*v]
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Neri and Schneider's Euclidean affine algorithm, 32-bit arithmetic;
// valid for years 0 to 9999, which callers check).
func civil(days int64) (y, m, d int64) {
	const shift = 82 // centuries added to keep n positive
	n := uint32(days + 719468 + 146097*shift)
	n1 := 4*n + 3
	c := n1 / 146097
	nc := n1 % 146097 / 4
	n2 := 4*nc + 3
	p2 := uint64(2939745) * uint64(n2)
	z := uint32(p2 >> 32)
	ny := uint32(p2) / 2939745 / 4
	yy := 100*c + z
	n3 := 2141*ny + 197913
	mm := n3 >> 16
	dd := n3 & 0xffff / 2141
	if ny >= 306 {
		yy++
		mm -= 12
	}
	return int64(yy) - 400*shift, int64(mm), int64(dd) + 1
}
