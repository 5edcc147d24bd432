package input

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

// tarMember is one entry of a test archive.
type tarMember struct {
	name string
	kind byte
	data []byte
}

func makeTar(t testing.TB, members []tarMember) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: m.kind, Mode: 0o644, Size: int64(len(m.data))}
		switch m.kind {
		case tar.TypeDir:
			h.Mode, h.Size = 0o755, 0
		case tar.TypeSymlink:
			h.Linkname, h.Size = "/etc/passwd", 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := w.Write(m.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	path := "testdata/" + name // the compressed fixtures
	switch name {
	case "nxlog_mixed.json":
		path = "../nxlog/testdata/" + name
	case "winlogbeat_mixed.json":
		path = "../winlogbeat/testdata/" + name
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenTar(t *testing.T) {
	wlb := readFixture(t, "winlogbeat_mixed.json")
	nxgz := readFixture(t, "nxlog_mixed.json.gz")
	trace := traceLines(t)
	inner := makeTar(t, []tarMember{{"x.jsonl", tar.TypeReg, trace}})
	archive := makeTar(t, []tarMember{
		{"logs/", tar.TypeDir, nil},
		{"logs/winlogbeat.json", tar.TypeReg, wlb},
		{"logs/link", tar.TypeSymlink, nil},
		{"logs/nxlog.json.gz", tar.TypeReg, nxgz},
		{"README.txt", tar.TypeReg, []byte("captured on a test bench\n")},
		{"inner.tar", tar.TypeReg, inner},
		{"empty", tar.TypeReg, nil},
		{"trace\x1b[2J.jsonl", tar.TypeReg, trace},
	})
	wantSkips := []string{
		"a.tar[logs/winlogbeat.json]:8: not a JSON object",
		`a.tar[logs/winlogbeat.json]:14: bad NewProcessId "0xZZ"`,
		"a.tar:3: member logs/link: not a regular file (type symlink)",
		"a.tar[logs/nxlog.json.gz]:3: not a JSON object",
		"a.tar[logs/nxlog.json.gz]:4: not a JSON object",
		`a.tar[logs/nxlog.json.gz]:15: bad NewProcessId "0xZZ"`,
		"a.tar:5: member README.txt: unknown input format",
		"a.tar:6: member inner.tar: unknown input format",
		"a.tar:7: member empty: unknown input format",
	}
	for _, c := range []struct {
		name string
		data []byte
		gzip bool
	}{
		{"tar", archive, false},
		{"tar.gz", gz(archive), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var skips fullSkipLog
			in, err := OpenReader(bytes.NewReader(c.data), "a.tar", &skips)
			if err != nil {
				t.Fatal(err)
			}
			if in.Format != FormatTar || in.Gzip != c.gzip {
				t.Errorf("format %v gzip %v", in.Format, in.Gzip)
			}
			evs, err := etwtest.ReadAll(t, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 11+9+2 {
				t.Errorf("%d events", len(evs))
			}
			// Members in archive order.
			if evs[0].Host != "WS07.corp.example" || evs[11].Host != "WS01.example.test" || evs[20].Source != etw.SourceETW {
				t.Errorf("order: %v %v %v", evs[0].Host, evs[11].Host, evs[20].Source)
			}
			if strings.Join(skips.Got, "\n") != strings.Join(wantSkips, "\n") {
				t.Errorf("skips:\n%s\nwant:\n%s", strings.Join(skips.Got, "\n"), strings.Join(wantSkips, "\n"))
			}
			st := in.Stats()
			want := etw.ReadStats{Records: 16 + 15 + 2, Events: 22, Skipped: 9, Members: 3, MembersSkipped: 4}
			if st != want {
				t.Errorf("stats %+v\nwant  %+v", st, want)
			}
		})
	}
	t.Run("member name with controls is rendered safely", func(t *testing.T) {
		var skips etwtest.SkipLog
		bad := makeTar(t, []tarMember{{"a\x1b]52;c;eA==\x07\n.txt", tar.TypeReg, []byte("?")}})
		in, err := OpenReader(bytes.NewReader(bad), "b.tar", &skips)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := etwtest.ReadAll(t, in); err != nil {
			t.Fatal(err)
		}
		if len(skips.Got) != 1 || skips.Got[0] != "b.tar:1: member a?]52;c;eA==??.txt: unknown input format" {
			t.Errorf("skips %q", skips.Got)
		}
	})
}

func TestOpenTarDamaged(t *testing.T) {
	wlb := readFixture(t, "winlogbeat_mixed.json")
	archive := makeTar(t, []tarMember{
		{"one.json", tar.TypeReg, wlb},
		{"two.json", tar.TypeReg, wlb},
	})
	secondHeader := 512 + (len(wlb)+511)/512*512
	cases := []struct {
		name     string
		data     []byte
		events   int
		lastSkip string
	}{
		{"cut inside the first member", archive[:512+len(wlb)/2], 4,
			"a.tar[one.json]:7: input ends in damaged data: tar member: damaged data after 6300 decompressed bytes: unexpected EOF"},
		{"cut inside the second header", archive[:secondHeader+100], 11,
			"a.tar:2: archive ends in damaged data after member 1: tar: damaged data: unexpected EOF"},
		{"gzip cut inside the second member", gz(archive)[:len(gz(archive))-40], -1,
			"input ends in damaged data: gzip: damaged data after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var skips etwtest.SkipLog
			in, err := OpenReader(bytes.NewReader(c.data), "a.tar", &skips)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := etwtest.ReadAll(t, in)
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if c.events >= 0 && len(evs) != c.events {
				t.Errorf("%d events, want %d", len(evs), c.events)
			}
			if c.events < 0 && len(evs) < 11 {
				t.Errorf("%d events: the first member was lost", len(evs))
			}
			last := ""
			if len(skips.Got) > 0 {
				last = skips.Got[len(skips.Got)-1]
			}
			if !strings.Contains(last, c.lastSkip) {
				t.Errorf("last skip %q, want %q", last, c.lastSkip)
			}
			damages := 0
			for _, s := range skips.Got {
				if strings.Contains(s, "damaged data") {
					damages++
				}
			}
			if st := in.Stats(); st.Damaged != 1 || damages != 1 {
				t.Errorf("damage reported %d times, stats %+v", damages, st)
			}
		})
	}
}

// fullSkipLog collects skip reports with the whole file label.
type fullSkipLog struct{ Got []string }

func (s *fullSkipLog) Skip(file string, record int64, reason string) {
	s.Got = append(s.Got, fmt.Sprintf("%s:%d: %s", file, record, reason))
}

func TestIsTarHeader(t *testing.T) {
	good := makeTar(t, []tarMember{{"a", tar.TypeReg, []byte("x")}})
	text := bytes.Repeat([]byte("a"), 600)
	copy(text[257:], "ustar\x0000")
	gnu := bytes.Clone(good[:512])
	copy(gnu[257:], "ustar  \x00")
	fixSum(gnu)
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"ustar", good, true},
		{"gnu", gnu, true},
		{"text with the magic", text, false},
		{"short", good[:511], false},
		{"bad checksum", func() []byte { b := bytes.Clone(good); b[0] ^= 1; return b }(), false},
		{"zeros", make([]byte, 1024), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := isTarHeader(c.b); got != c.want {
				t.Errorf("isTarHeader = %v", got)
			}
		})
	}
}

// fixSum rewrites a tar header's checksum.
func fixSum(h []byte) {
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h[:512] {
		sum += int(c)
	}
	copy(h[148:], []byte(strings.Repeat("0", 6-len(octal(sum)))+octal(sum)+"\x00 "))
}

func octal(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 8 {
		b = append([]byte{byte('0' + n%8)}, b...)
	}
	return string(b)
}
