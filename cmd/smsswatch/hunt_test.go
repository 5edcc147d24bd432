package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// runCLI runs the smsswatch command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// huntRules parses hunt's stdout: one JSON alert per line.
func huntRules(t *testing.T, stdout string) []string {
	t.Helper()
	var rules []string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var doc struct {
			Rule struct {
				ID string `json:"id"`
			} `json:"rule"`
			Event struct {
				Kind string `json:"kind"`
			} `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("stdout line is not JSON: %v: %q", err, sc.Text())
		}
		if doc.Event.Kind != "alert" || doc.Rule.ID == "" {
			t.Fatalf("not an alert: %q", sc.Text())
		}
		rules = append(rules, doc.Rule.ID)
	}
	return rules
}

func TestHuntExitCodesAndOutput(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		code      int
		rules     []string
		errSubstr string
	}{
		{"normal boot is clean", []string{"hunt", "../../detect/testdata/traces/normal_boot.jsonl"}, exitOK, nil, "0 violation(s)"},
		{"several files", []string{"hunt", "../../detect/testdata/traces/normal_boot.jsonl", "../../detect/testdata/traces/normal_rdp_sessions.jsonl"}, exitOK, nil, "2 file(s)"},
		{"violations exit 1", []string{"hunt", "../../detect/testdata/traces/rule_parent.jsonl"}, exitViolations, []string{"smss.parent"}, "smss.parent 1"},
		{"tree", []string{"hunt", "--tree", "../../detect/testdata/traces/normal_boot.jsonl"}, exitOK, nil, "└─ smss.exe 404  master"},
		{"missing file", []string{"hunt", "no/such/file.evtx"}, exitError, nil, "no/such/file.evtx"},
		{"no files", []string{"hunt"}, exitError, nil, "no input files"},
		{"bad flag", []string{"hunt", "--nope", "x"}, exitError, nil, "flag provided but not defined"},
		{"disabled rule", []string{"hunt", "--disable-rules", "smss.parent", "../../detect/testdata/traces/rule_parent.jsonl"}, exitOK, nil, "0 violation(s)"},
		{"bad rule name", []string{"hunt", "--disable-rules", "smss.nope", "../../detect/testdata/traces/rule_parent.jsonl"}, exitError, nil, "disable_rules"},
		{"help", []string{"hunt", "--help"}, exitOK, nil, "Examples:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			if got := huntRules(t, out); strings.Join(got, " ") != strings.Join(tc.rules, " ") {
				t.Fatalf("alerts %v, want %v", got, tc.rules)
			}
			if !strings.Contains(errOut, tc.errSubstr) {
				t.Fatalf("stderr does not contain %q:\n%s", tc.errSubstr, errOut)
			}
			if code == exitError && tc.name != "bad flag" && strings.Count(strings.TrimSpace(errOut), "\n") > 0 && !strings.Contains(errOut, "Usage") {
				t.Fatalf("error is not one line:\n%s", errOut)
			}
		})
	}
}

// TestHuntBadInput: malformed records are skipped, counted and reported by
// file and line; --strict turns them into exit 2; nothing panics.
func TestHuntBadInput(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("../../detect/testdata/traces/rule_parent.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte("this is not JSON\n{\"v\":1,\"time\":\"never\",\"kind\":\"start\",\"source\":\"etw\"}\n\x00\x01\x02\xff\n"), good...)
	path := filepath.Join(dir, "mixed.jsonl")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "hunt", path)
	if code != exitViolations || len(huntRules(t, out)) != 1 {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"3 record(s) skipped", "mixed.jsonl:1:", "mixed.jsonl:2:", "mixed.jsonl:3:"} {
		if !strings.Contains(errOut, want) {
			t.Fatalf("summary lacks %q:\n%s", want, errOut)
		}
	}
	code, _, errOut = runCLI(t, "hunt", "--strict", path)
	if code != exitError || !strings.Contains(errOut, "--strict") {
		t.Fatalf("--strict: exit %d\n%s", code, errOut)
	}
	// Pure garbage is an unknown format: one line, exit 2.
	garbage := filepath.Join(dir, "garbage.bin")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "hunt", garbage)
	if code != exitError || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("garbage: exit %d\n%s", code, errOut)
	}
}

// TestHuntDamagedInput: damaged input is read up to the damage; hunt
// exits 1 when the readable part holds violations, else 2 (records were
// lost), and the summary says what was lost.
func TestHuntDamagedInput(t *testing.T) {
	dir := t.TempDir()
	// damagedGzip gzips a trace followed by comment lines and cuts the
	// stream in the comments: every event is readable, the rest is not.
	damagedGzip := func(trace string) string {
		data, err := os.ReadFile(trace)
		if err != nil {
			t.Fatal(err)
		}
		var filler bytes.Buffer
		for i := 0; i < 20000; i++ {
			fmt.Fprintf(&filler, "# %d %x\n", i, i*i*7919)
		}
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Write(filler.Bytes())
		zw.Close()
		path := filepath.Join(dir, filepath.Base(trace)+".gz")
		if err := os.WriteFile(path, z.Bytes()[:z.Len()/2], 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// An EVTX file cut to its header, which names two chunks.
	header := make([]byte, 0x1000)
	copy(header, "ElfFile\x00")
	binary.LittleEndian.PutUint64(header[0x10:], 1)      // last chunk
	binary.LittleEndian.PutUint64(header[0x18:], 40)     // next record ID
	binary.LittleEndian.PutUint32(header[0x20:], 128)    // header size
	binary.LittleEndian.PutUint16(header[0x24:], 1)      // minor version
	binary.LittleEndian.PutUint16(header[0x26:], 3)      // major version
	binary.LittleEndian.PutUint16(header[0x28:], 0x1000) // header block
	binary.LittleEndian.PutUint16(header[0x2A:], 2)      // chunks
	binary.LittleEndian.PutUint32(header[124:], crc32.ChecksumIEEE(header[:120]))
	cut := filepath.Join(dir, "cut.evtx")
	if err := os.WriteFile(cut, header, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		path  string
		code  int
		rules []string
		want  []string
	}{
		{"damaged gzip trace holding an impostor", damagedGzip("../../detect/testdata/traces/rule_parent.jsonl"), exitViolations, []string{"smss.parent"},
			[]string{"input ends in damaged data: gzip: damaged data after", "1 damaged stream(s)"}},
		{"damaged gzip trace of a clean boot", damagedGzip("../../detect/testdata/traces/normal_boot.jsonl"), exitError, nil,
			[]string{"input ends in damaged data: gzip: damaged data after", "1 input(s) damaged (records lost)"}},
		{"EVTX cut to its header", cut, exitError, nil,
			[]string{"cut.evtx:1: chunks 0-1 missing: the file ends after 0 of the 2 chunks its header names", "2 missing chunk(s)", "record(s) lost to damage", "1 input(s) damaged (records lost)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "hunt", c.path)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, errOut)
			}
			if got := huntRules(t, out); strings.Join(got, ",") != strings.Join(c.rules, ",") {
				t.Errorf("rules %q, want %q", got, c.rules)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("summary lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestHuntHostileStringsStayOnOneLine: a host name and paths with control
// characters and terminal escapes never break the JSON lines or the
// summary's lines.
func TestHuntHostileStringsStayOnOneLine(t *testing.T) {
	dir := t.TempDir()
	line := `{"v":1,"time":"2026-11-02T09:00:00Z","kind":"start","source":"sysmon","host":"EVIL\u001b[2J\nHOST","pid":7100,"ppid":6800,"image":"C:\\Users\\Pub\r\n\u001b]0;pwned\u0007lic\\smss.exe","parent_image":"C:\\Windows\\cmd.exe\u2028x"}` + "\n"
	path := filepath.Join(dir, "hostile.jsonl")
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "hunt", "--tree", path)
	if code != exitViolations {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if n := len(huntRules(t, out)); n != 2 {
		t.Fatalf("%d alerts, want image_path and parent", n)
	}
	if strings.ContainsAny(errOut, "\x1b\x07\r") || strings.Contains(errOut, "\u2028") {
		t.Fatalf("control characters reached the summary: %q", errOut)
	}
}

func TestConvertRoundTrip(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "demo.jsonl")
	code, _, errOut := runCLI(t, "convert", "-o", out, "testdata/demo.jsonl")
	if code != exitOK || !strings.Contains(errOut, "event(s) written") {
		t.Fatalf("convert: exit %d\n%s", code, errOut)
	}
	code1, a, _ := runCLI(t, "hunt", "testdata/demo.jsonl")
	code2, b, _ := runCLI(t, "hunt", out)
	if code1 != code2 || a != b || a == "" {
		t.Fatalf("hunting the converted trace differs:\n%s\n---\n%s", a, b)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCLI(t, "frobnicate\x1b[31m")
	if code != exitError || strings.Contains(errOut, "\x1b") {
		t.Fatalf("exit %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "version"); code != exitOK || errOut != "" {
		t.Fatalf("version: %d %q", code, errOut)
	}
}

// lockedBuffer is a bytes.Buffer that goroutines (log callbacks of the NATS
// client) may write while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHuntBootRecordsInAnotherFile: a host's boot records (System log) and
// its process events (Sysmon) in two files give the same verdict in either
// order: each stream gets the boot records at their time.
func TestHuntBootRecordsInAnotherFile(t *testing.T) {
	a, b := "testdata/two_boots_sysmon.jsonl", "testdata/two_boots_system.jsonl"
	for _, order := range [][]string{{a, b}, {b, a}} {
		code, out, errOut := runCLI(t, append([]string{"hunt"}, order...)...)
		if code != exitOK || out != "" {
			t.Fatalf("hunt %v: exit %d\n%s\n%s", order, code, out, errOut)
		}
		if !strings.Contains(errOut, "2 boot(s)") {
			t.Fatalf("hunt %v: the two boots are not both seen:\n%s", order, errOut)
		}
	}
	// One file with the boot records last, long after the events they
	// date: the late records cannot be placed and must not be misapplied.
	var one []byte
	for _, p := range []string{a, b} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		one = append(one, data...)
	}
	path := filepath.Join(t.TempDir(), "one.jsonl")
	if err := os.WriteFile(path, one, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "hunt", path); code != exitOK || out != "" {
		t.Fatalf("one file: exit %d\n%s\n%s", code, out, errOut)
	}
}
