//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real main() in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("SMSSWATCH_TEST_MAIN") == "1" {
		os.Args = append([]string{"smsswatch"}, os.Args[1:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSignalStopsABlockedRead: hunt on a FIFO that no one writes blocks
// in the OS; SIGTERM still ends the process, with exit 2 and a line saying
// why, within the grace period.
func TestSignalStopsABlockedRead(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "hunt", fifo)
	cmd.Env = append(os.Environ(), "SMSSWATCH_TEST_MAIN=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Give the child time to install its signal handler and block opening
	// the FIFO, then signal it.
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitError {
			t.Fatalf("exit %v, want %d; stderr %q", err, exitError, errb.String())
		}
	case <-time.After(signalGrace + 10*time.Second):
		cmd.Process.Kill()
		t.Fatal("SIGTERM did not stop hunt blocked on a FIFO")
	}
}

// TestHuntReadsAPipeOnce: an input that can be read only once (a FIFO,
// `hunt <(zcat x.gz) y.jsonl`) works beside a file: every input is read
// in one pass.
func TestHuntReadsAPipeOnce(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../detect/testdata/traces/rule_parent.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	code, out, errOut := runCLI(t, "hunt", fifo, "../../detect/testdata/traces/normal_boot.jsonl")
	if code != exitViolations || !strings.Contains(errOut, "2 file(s)") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if got := huntRules(t, out); len(got) == 0 || got[0] != "smss.parent" {
		t.Fatalf("rules %v from the pipe", got)
	}
}
