#!/usr/bin/env bash
# Runs the Windows build's tests of the etw packages (etw/live: the live ETW sensor's
# Windows layer: snapshot, enrichment, registry reads, the session
# supervisor, plus every pure-Go test) and of cmd/smsswatch under wine.
#
# What wine can and cannot tell:
#   - wine's ETW is a stub: StartTraceW and EnableTraceEx2 "succeed",
#     OpenTraceW fails, so no Kernel-Process event is ever delivered. The
#     tests that need a session (TestLiveRunWindows) only check what holds
#     whatever ETW does: the snapshot and boot evidence come first, the
#     supervisor reports sensor.blind and restarts with back-off, Run stops
#     on cancel. Real sessions, TDH rendering, capture state, lost-event
#     counters and tamper detection need a real Windows host
#     (etw/live/windows.md has the checklist).
#   - wine 8 lacks bcryptprimitives.dll, which every Go >= 1.22 program
#     loads at start; .ci/wine/ builds a shim with mingw-w64.
#   - wine 8 lacks NtSetInformationFile(FileDispositionInformationEx), which
#     Go's os.RemoveAll uses (and does not fall back from for wine's
#     STATUS_INVALID_DEVICE_REQUEST): every t.TempDir cleanup fails with
#     "unlinkat ...: Invalid function." A test whose only failures are
#     such cleanup errors is counted as passed (and listed); any other
#     failure, panic or crash fails this script.
#
# Exits 0 only when every test passed. Needs root for apt-get (as CI has).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { printf '[windows-tests %3ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

WINE=""
for w in wine64 /usr/lib/wine/wine64 wine; do
  if command -v "$w" >/dev/null 2>&1; then WINE=$(command -v "$w"); break; fi
done
if [ -z "$WINE" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  say "installing wine64 and mingw-w64 (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends wine64 gcc-mingw-w64-x86-64 >/dev/null
  for w in wine64 /usr/lib/wine/wine64 wine; do
    if command -v "$w" >/dev/null 2>&1; then WINE=$(command -v "$w"); break; fi
  done
fi
[ -n "$WINE" ] || { echo "windows-tests: no wine64 binary after installing wine64" >&2; exit 1; }
say "wine: $WINE ($("$WINE" --version 2>/dev/null || echo unknown version))"

work=$(mktemp -d)
stop_wineserver() {
  for ws in wineserver "$(dirname "$WINE")/wineserver64" "$(dirname "$WINE")/wineserver"; do
    if command -v "$ws" >/dev/null 2>&1; then WINEPREFIX="$work/prefix" "$ws" -k >/dev/null 2>&1 || true; break; fi
  done
}
trap 'stop_wineserver; rm -rf "$work"' EXIT
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

say "building the bcryptprimitives.dll shim"
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" \
  .ci/wine/bcryptprimitives.c .ci/wine/bcryptprimitives.def -ladvapi32

say "creating the wine prefix"
"$WINE" wineboot --init >/dev/null 2>&1 || true
sys32="$WINEPREFIX/drive_c/windows/system32"
[ -d "$sys32" ] || { echo "windows-tests: wine prefix has no system32" >&2; exit 1; }
cp "$work/bcryptprimitives.dll" "$sys32/"

# wine_only LOG succeeds when the test binary's failures are all t.TempDir
# cleanup errors caused by wine (see above): no panic, at least one
# "--- FAIL" line, and no failure message of another kind.
wine_only() {
  awk '
    /^(panic:|fatal error:)/ { bad = 1 }
    /^--- FAIL: / { fails++; cur = $3; next }
    /^    / {
      if (cur == "" || $0 ~ /^ *--- FAIL: /) next
      if ($0 !~ /TempDir RemoveAll cleanup: unlinkat .*Invalid function\./) bad = 1
      next
    }
    { cur = "" }
    END { exit (bad || fails == 0) }
  ' "$1"
}
wine_only_names() { awk '/^--- FAIL: /{printf "%s ", $3}' "$1"; }

export GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc
status=0
for pkg in etw/input etw/live etw/live/consumer cmd/smsswatch; do
  name=$(basename "$pkg")
  say "go test -c ./$pkg"
  go test -c -o "$work/$name.test.exe" "./$pkg"
  say "running $name.test.exe under wine"
  # Tests read testdata relative to the package folder.
  if (cd "$pkg" && timeout 600 "$WINE" "$work/$name.test.exe" -test.count=1 -test.timeout=300s) >"$work/$name.log" 2>&1; then
    tail -n 3 "$work/$name.log"
  elif wine_only "$work/$name.log"; then
    say "$pkg: PASS except wine's TempDir cleanup (FileDispositionInformationEx) in: $(wine_only_names "$work/$name.log")"
  else
    status=1
    echo "---- $pkg under wine FAILED:"
    grep -v '^=== RUN' "$work/$name.log" | tail -n 80
  fi
done
unset GOOS GOARCH CGO_ENABLED CC
say "done (status $status)"
exit $status
