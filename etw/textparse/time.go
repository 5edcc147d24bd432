package textparse

import "time"

// The years Time accepts: those whose every instant fits Unix
// nanoseconds in an int64.
const (
	MinYear = 1678
	MaxYear = 2261
)

// Time parses "YYYY-MM-DD HH:MM:SS[.fraction][Z|±hh:mm]" (a 'T' may
// separate date and time; ',' may start the fraction, whose digits past
// the ninth are dropped) into Unix ns, without allocating. Without a zone
// the time is taken as UTC and zoned is false. It is the one timestamp
// parser of every recorded source (Sysmon UtcTime, NXLog EventTime, EVTX
// text times, the native trace's RFC 3339 times) and has one validity
// rule: a real calendar date (no 31 February; 29 February only in leap
// years), hours 0-23, minutes 0-59, seconds 0-60 (a leap second reads as
// the next minute's first), offsets up to ±23:59, years MinYear-MaxYear.
func Time(b []byte) (ns int64, zoned, ok bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
		return 0, false, false
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	h, ok4 := digits(b[11:13])
	mi, ok5 := digits(b[14:16])
	s, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || y < MinYear || y > MaxYear ||
		mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 60 {
		return 0, false, false
	}
	rest := b[19:]
	frac := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i, n := 1, 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			if n < 9 {
				frac = frac*10 + int(rest[i]-'0')
				n++
			}
			i++
		}
		if i == 1 {
			return 0, false, false
		}
		for ; n < 9; n++ {
			frac *= 10
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		zoned = true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
		zoned = true
	default:
		return 0, false, false
	}
	ns = time.Date(y, time.Month(mo), d, h, mi, s, frac, time.UTC).UnixNano()
	ns -= int64(offset) * int64(time.Second)
	// time.Date does not overflow-check UnixNano; the year bounds keep
	// every accepted instant inside int64 except at their very edges.
	if y == MinYear && ns > 0 || y == MaxYear && ns < 0 {
		return 0, false, false
	}
	return ns, zoned, true
}

// daysIn is the number of days of month mo of year y (proleptic
// Gregorian).
func daysIn(y, mo int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// digits parses b, all ASCII digits, as a decimal number.
func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, len(b) > 0
}
