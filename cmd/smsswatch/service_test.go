package main

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
)

func TestParseServiceArgs(t *testing.T) {
	io := stdio{out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	req, code, err := parseServiceArgs([]string{"install", "--nats", "nats://siem:4222", "--config", `C:\ProgramData\smsswatch\config.json`, "--quiet"}, io)
	if err != nil || code != -1 {
		t.Fatalf("install: %v %d", err, code)
	}
	want := []string{"--config=C:\\ProgramData\\smsswatch\\config.json", "--nats=nats://siem:4222", "--quiet=true"}
	if req.action != "install" || req.name != "smsswatch" || !reflect.DeepEqual(req.runArgs, want) {
		t.Errorf("install request %+v", req)
	}
	req, _, err = parseServiceArgs([]string{"stop", "--service-name", "smsswatch2"}, io)
	if err != nil || req.name != "smsswatch2" || req.runArgs != nil {
		t.Errorf("stop: %+v %v", req, err)
	}
	for _, bad := range [][]string{
		nil, {"reinstall"}, {"start", "--quiet"}, {"install", "--no-such-flag"}, {"install", "extra"},
		{"stop", "--service-name", `a\b`},
	} {
		if _, code, err := parseServiceArgs(bad, io); err == nil && code != exitError {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, code, err := parseServiceArgs([]string{"--help"}, io); err != nil || code != exitOK {
		t.Errorf("help: %v %d", err, code)
	}
}

func TestServiceUnsupported(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the service manager exists on Windows")
	}
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"service", "start"}, stdio{out: &out, err: &errb})
	if code != exitError || !strings.Contains(errb.String(), "service control needs Windows") {
		t.Errorf("exit %d, %q", code, errb.String())
	}
	if _, err := controlService(serviceRequest{}); !errors.Is(err, etw.ErrUnsupported) {
		t.Errorf("controlService: %v, want etw.ErrUnsupported", err)
	}
}
