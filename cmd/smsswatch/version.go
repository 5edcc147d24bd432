package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	register(&command{name: "version", summary: "print the version", run: runVersion})
}

func runVersion(_ context.Context, args []string, io stdio) int {
	fs := newFlagSet("version", "version", "  smsswatch version\n", io.err)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = " " + s.Value
			}
		}
	}
	fmt.Fprintf(io.out, "smsswatch %s%s %s/%s %s\n", version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
	return exitOK
}
