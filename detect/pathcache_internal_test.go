package detect

import (
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
)

// TestPathCacheIsExact: the cache answers what the matcher answers, for
// the same string and for an equal string elsewhere in memory, and is
// cleared when the matcher changes.
func TestPathCacheIsExact(t *testing.T) {
	d, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := d.Engine("H", 0, SinkFunc(func(*Violation) {}))
	paths := []string{`C:\Windows\System32\csrss.exe`, `C:\Windows\System32\smss.exe`, `C:\Users\Public\smss.exe`,
		`D:\Windows\System32\smss.exe`, `C:\Windows\System32\..\smss.exe`, ""}
	for round := 0; round < 3; round++ {
		for _, p := range paths {
			for _, name := range []string{"", "smss.exe"} {
				q := strings.Clone(p) // another address, same text
				if got, want := e.inSystem32(p, name), e.paths.inSystem32(p, name); got != want {
					t.Fatalf("%q %q: cached %v, matcher %v", p, name, got, want)
				}
				if got, want := e.inSystem32(q, name), e.paths.inSystem32(q, name); got != want {
					t.Fatalf("%q %q (copy): cached %v, matcher %v", q, name, got, want)
				}
			}
		}
	}
	p := `D:\Windows\System32\smss.exe`
	if e.inSystem32(p, "smss.exe") != pathMismatch {
		t.Fatal("D: matched with SystemRoot on C:")
	}
	root, _ := systemRootDir(`D:\Windows`)
	e.paths.setRoot(root)
	e.pathCache.clear()
	if e.inSystem32(p, "smss.exe") != pathMatch {
		t.Fatal("stale verdict after SystemRoot moved to D:")
	}
}

// TestClassCacheIsExact: the cache answers what etw.BaseName and
// classifyName of the base name answer, for the same string, for an equal string elsewhere in
// memory, and after other paths took its slot.
func TestClassCacheIsExact(t *testing.T) {
	d, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := d.Engine("H", 0, SinkFunc(func(*Violation) {}))
	paths := []string{`C:\Windows\System32\csrss.exe`, `C:\Windows\System32\smss.exe`, `C:\Users\Public\ѕmss.exe`,
		`\SystemRoot\System32\smss.exe:x`, `C:\Windows\System32\winlogon.exe`, `C:\Windows\System32\wininit.exe`,
		`C:\Program Files\Contoso\agent.exe`, `smss.exe`, `\`, ""}
	// More paths than the cache has slots, so that entries are replaced.
	for i := 0; i < 3*cacheSets*cacheWays; i++ {
		paths = append(paths, `C:\Temp\`+strings.Repeat("x", i%7)+`smss.exe`)
	}
	for round := 0; round < 3; round++ {
		for _, p := range paths {
			base := etw.BaseName(p)
			want := classifyName(base)
			for _, q := range []string{p, strings.Clone(p)} {
				wantExact := want != nameOther && equalFoldASCII(base, className[want])
				if gotBase, got, exact := e.nameOf(q); got != want || gotBase != base || exact != wantExact {
					t.Fatalf("round %d %q: cached %q %v exact %v, want %q %v exact %v", round, q, gotBase, got, exact, base, want, wantExact)
				}
				if got := e.classify(q); got != want {
					t.Fatalf("round %d %q: classify %v, want %v", round, q, got, want)
				}
			}
		}
	}
}
