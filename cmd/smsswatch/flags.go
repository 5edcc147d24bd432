package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// newFlagSet returns a FlagSet for a subcommand whose --help prints the
// synopsis, the flags (with their SMSSWATCH_* variables) and the examples.
func newFlagSet(name, synopsis, examples string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: smsswatch %s\n\nFlags (each can be set by the environment variable shown):\n", synopsis)
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// envName is the environment variable that overrides flag name.
func envName(name string) string {
	if name == "nats" {
		return "NATS_URL"
	}
	return "SMSSWATCH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// envString returns the environment override for flag name, or def.
func envString(name, def string) string {
	if v, ok := os.LookupEnv(envName(name)); ok {
		return v
	}
	return def
}

// stringFlag defines a string flag whose default comes from the environment.
func stringFlag(fs *flag.FlagSet, name, def, help string) *string {
	return fs.String(name, envString(name, def), help+" ($"+envName(name)+")")
}

// boolFlag defines a bool flag whose default comes from the environment.
func boolFlag(fs *flag.FlagSet, name string, def bool, help string) *bool {
	if v, ok := os.LookupEnv(envName(name)); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	return fs.Bool(name, def, help+" ($"+envName(name)+")")
}

// durationFlag defines a duration flag whose default comes from the environment.
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, help string) *time.Duration {
	if v, ok := os.LookupEnv(envName(name)); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	return fs.Duration(name, def, help+" ($"+envName(name)+")")
}

// parseFlags parses args; it returns the exit code to use when the command
// must stop (help asked or bad flags) and ok=false.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK, false
		}
		return exitError, false
	}
	return exitOK, true
}

// sanitizeLine makes attacker-controlled text safe for one terminal or log
// line: control characters (including ESC), bidirectional overrides and
// invalid UTF-8 are written as escapes.
func sanitizeLine(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}
