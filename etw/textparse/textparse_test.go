package textparse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTime(t *testing.T) {
	utc := func(s string) int64 {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UnixNano()
	}
	for _, c := range []struct {
		in    string
		want  int64
		zoned bool
		ok    bool
	}{
		{"2026-11-02 08:00:00", utc("2026-11-02T08:00:00Z"), false, true},
		{"2026-11-02T08:00:00.5Z", utc("2026-11-02T08:00:00.5Z"), true, true},
		{"2026-11-02 08:00:00,123456789123", utc("2026-11-02T08:00:00.123456789Z"), false, true},
		{"2026-11-02T08:00:00+01:30", utc("2026-11-02T06:30:00Z"), true, true},
		{"2026-11-02T08:00:00-05:00", utc("2026-11-02T13:00:00Z"), true, true},
		{"2024-02-29T00:00:00Z", utc("2024-02-29T00:00:00Z"), true, true},
		{"2023-02-29T00:00:00Z", 0, false, false}, // not a leap year
		{"2026-02-31 00:00:00", 0, false, false},  // 31 February
		{"2026-04-31 00:00:00", 0, false, false},
		{"2026-13-01 00:00:00", 0, false, false},
		{"2026-11-02 24:00:00", 0, false, false},
		{"2026-11-02 08:00:00.", 0, false, false},
		{"2026-11-02 08:00:00+1:00", 0, false, false},
		{"2026-11-02 08:00:00 PM", 0, false, false},
		{"1677-12-31 23:59:59Z", 0, false, false},
		{"2262-01-01 00:00:00Z", 0, false, false},
		{"20261102 080000", 0, false, false},
		{"", 0, false, false},
	} {
		t.Run(c.in, func(t *testing.T) {
			ns, zoned, ok := Time([]byte(c.in))
			if ns != c.want || zoned != c.zoned || ok != c.ok {
				t.Errorf("Time(%q) = %d, %v, %v; want %d, %v, %v", c.in, ns, zoned, ok, c.want, c.zoned, c.ok)
			}
		})
	}
}

// referenceTime parses what Time accepts through time.Parse: skip is true
// for inputs the two treat differently by design (a leap second, which
// time.Parse refuses).
func referenceTime(s string) (ns int64, zoned, ok, skip bool) {
	if len(s) < 19 || !isASCII(s) || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, false, false, false
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, false, false // time.Parse takes one-digit fields; the logs never write them
		}
	}
	b := []byte(s)
	if b[10] == ' ' {
		b[10] = 'T'
	}
	rest := b[19:]
	if len(rest) > 0 && rest[0] == ',' {
		rest[0] = '.'
	}
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i > 10 { // drop digits past the ninth
			b = append(b[:19+10], rest[i:]...)
		}
	}
	if n := len(b); n > 0 && b[n-1] == 'z' {
		b[n-1] = 'Z'
	}
	zoned = bytes.HasSuffix(b, []byte("Z")) || len(b) >= 25 && (b[len(b)-6] == '+' || b[len(b)-6] == '-')
	if !zoned {
		b = append(b, 'Z')
	}
	if s[17:19] == "60" {
		return 0, false, false, true
	}
	v, err := time.Parse("2006-01-02T15:04:05.999999999Z07:00", string(b))
	if err != nil || v.Year() < MinYear || v.Year() > MaxYear || b[4] != '-' {
		return 0, false, false, false
	}
	_, off := v.Zone()
	if off <= -24*3600 || off >= 24*3600 {
		return 0, false, false, false
	}
	if n := len(b); n >= 25 && (b[n-6] == '+' || b[n-6] == '-') && (b[n-2] > '5') {
		return 0, false, false, false // time.Parse takes offset minutes past 59; Time's rule does not
	}
	return v.UnixNano(), zoned, true, false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzTime(f *testing.F) {
	for _, s := range []string{"2026-11-02 08:00:00", "2026-11-02T08:00:00.123Z", "2024-02-29T23:59:59,5+01:00",
		"2026-02-31 00:00:00", "1678-01-01T00:00:00Z", "2261-12-31T23:59:59.999999999Z", "2026-11-02T08:00:00-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, zoned, ok := Time([]byte(s))
		rns, rzoned, rok, skip := referenceTime(s)
		if skip {
			return
		}
		if ok != rok || ok && (ns != rns || zoned != rzoned) {
			t.Fatalf("Time(%q) = %d, %v, %v; time.Parse says %d, %v, %v", s, ns, zoned, ok, rns, rzoned, rok)
		}
	})
}

func TestUint32(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"404", 404, true}, {"0", 0, true}, {"4294967295", 4294967295, true}, {"4294967296", 0, false},
		{"404.0", 404, true}, {"404.5", 0, false}, {"0x1a4", 0x1a4, true}, {"0X1A4", 0x1a4, true},
		{"0x00000000000001a4", 0x1a4, true}, {"0x100000000", 0, false}, {"0x", 0, false},
		{"-1", 0, false}, {"+1", 0, false}, {" 1", 0, false}, {"1e3", 0, false}, {"", 0, false}, {".0", 0, false},
	} {
		t.Run(c.in, func(t *testing.T) {
			if got, ok := Uint32([]byte(c.in)); got != c.want || ok != c.ok {
				t.Errorf("Uint32(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

// referenceUint32 is Uint32 by strconv.
func referenceUint32(s string) (uint32, bool) {
	if len(s) > 2 && (strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")) {
		h := s[2:]
		if h == "" || strings.ContainsAny(h, "_+-") {
			return 0, false
		}
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil {
			return 0, false
		}
		return uint32(v), true
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		if strings.Trim(s[i+1:], "0") != "" {
			return 0, false
		}
		s = s[:i]
	}
	if s == "" || strings.ContainsAny(s, "_+-") {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

func FuzzUint32(f *testing.F) {
	for _, s := range []string{"404", "0x1a4", "4294967296", "404.000", "0x00000000ffffffff", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Uint32([]byte(s))
		want, wok := referenceUint32(s)
		if ok != wok || got != want {
			t.Fatalf("Uint32(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, wok)
		}
	})
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 40)
	for _, c := range []struct {
		name, in string
		max      int
		want     []string // "!" for ErrLineTooLong
	}{
		{"lines", "a\nb\r\nc", 100, []string{"a", "b", "c"}},
		{"bom", "\xef\xbb\xbfa\n\xef\xbb\xbfb\n", 100, []string{"a", "\xef\xbb\xbfb"}},
		{"empty lines", "\n\n", 100, []string{"", ""}},
		{"longer than the buffer", long + "\nb\n", 100, []string{long, "b"}},
		{"too long", long + "\nb\n", 30, []string{"!", "b"}},
		{"too long in the buffer", "abcdefghijkl\nb\n", 5, []string{"!", "b"}},
		{"too long at the end", long, 30, []string{"!"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lr := NewLineReader(bufio.NewReaderSize(strings.NewReader(c.in), 16), c.max)
			var got []string
			for {
				line, err := lr.Next()
				if err == io.EOF {
					break
				}
				if errors.Is(err, ErrLineTooLong) {
					got = append(got, "!")
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(line))
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") || lr.Lines() != int64(len(c.want)) {
				t.Errorf("lines %q (%d), want %q", got, lr.Lines(), c.want)
			}
		})
	}
}

// TestLineReaderDropsHugeBuffer checks that one odd huge line does not
// leave the reader holding a buffer of its size.
func TestLineReaderDropsHugeBuffer(t *testing.T) {
	for _, size := range []int{100, 300 << 10, 3 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			in := "a\n" + strings.Repeat("y", size) + "\nb\n"
			lr := NewLineReader(bufio.NewReaderSize(strings.NewReader(in), 4096), 1<<20)
			var got []string
			for {
				line, err := lr.Next()
				if err == io.EOF {
					break
				}
				if errors.Is(err, ErrLineTooLong) {
					got = append(got, "!")
					continue
				}
				got = append(got, string(line))
			}
			want := "a|" + strings.Repeat("y", size) + "|b"
			if size > 1<<20 {
				want = "a|!|b"
			}
			if strings.Join(got, "|") != want {
				t.Errorf("got %d lines, want %q", len(got), want[:min(len(want), 20)])
			}
			if cap(lr.long) > 1<<20/4+4096 && size > 1<<20 {
				t.Errorf("kept a %d-byte buffer after a skipped line", cap(lr.long))
			}
		})
	}
}

func TestContainsFold(t *testing.T) {
	for _, c := range []struct {
		b, w string
		want bool
	}{
		{`HKLM\System\CurrentControlSet\Control\Session Manager`, "session manager", true},
		{"SESSION MANAGER", "session manager", true},
		{"Session Manage", "session manager", false},
		{"", "x", false},
		{"abc", "", true},
	} {
		if got := ContainsFold([]byte(c.b), c.w); got != c.want {
			t.Errorf("ContainsFold(%q, %q) = %v", c.b, c.w, got)
		}
	}
}
