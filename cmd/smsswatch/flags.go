package main

import (
	"flag"
	"fmt"
	"io"
	"os"
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

// stringFlag defines a string flag that its environment variable can set.
func stringFlag(fs *flag.FlagSet, name, def, help string) *string {
	return fs.String(name, def, help+" ($"+envName(name)+")")
}

// boolFlag defines a bool flag that its environment variable can set.
func boolFlag(fs *flag.FlagSet, name string, def bool, help string) *bool {
	return fs.Bool(name, def, help+" ($"+envName(name)+")")
}

// durationFlag defines a duration flag that its environment variable can set.
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, help string) *time.Duration {
	return fs.Duration(name, def, help+" ($"+envName(name)+")")
}

// applyEnv sets every flag of fs whose environment variable is set, with
// the flag's own parser: SMSSWATCH_CHILD_WINDOW=5 is the same error as
// --child-window 5, never silently the default. The command line, parsed
// after, wins.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("$%s: invalid value %q: %v", envName(f.Name), v, serr)
			}
		}
	})
	return err
}

// parseFlags applies the environment, then parses args; it returns the
// exit code to use when the command must stop (help asked or bad flags or
// variables) and ok=false.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := applyEnv(fs); err != nil {
		fmt.Fprintf(fs.Output(), "smsswatch %s: %s\n", fs.Name(), sanitizeLine(err.Error()))
		return exitError, false
	}
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
