package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
)

func init() {
	register(&command{name: "service", summary: "install, uninstall, start or stop the Windows service (runs `run` as LocalSystem)", run: runServiceCmd})
}

// defaultServiceName is the Windows service's name.
const defaultServiceName = "smsswatch"

const serviceExamples = `  smsswatch service install --nats nats://siem.example:4222 --config C:\ProgramData\smsswatch\config.json
  smsswatch service start
  smsswatch service stop
  smsswatch service uninstall

install registers the service (automatic start, LocalSystem, restart on
failure) to run "smsswatch.exe run" with the run flags given after
install; see 'smsswatch run --help' for them. Needs an administrator.
`

// errServiceUsage is returned for a bad service command line.
var errServiceUsage = errors.New("usage: smsswatch service install|uninstall|start|stop [flags]")

// serviceRequest is a parsed service command line.
type serviceRequest struct {
	action string
	name   string
	// runArgs are the run flags install stores on the service command line.
	runArgs []string
}

// parseServiceArgs splits "ACTION [--service-name N] [run flags]". The run
// flags given to install are checked by run's own flag parser, so that a
// typo fails now rather than in the service.
func parseServiceArgs(args []string, stdio stdio) (serviceRequest, int, error) {
	if len(args) == 0 {
		return serviceRequest{}, exitError, errServiceUsage
	}
	req := serviceRequest{action: args[0], name: defaultServiceName}
	switch req.action {
	case "-h", "--help", "help":
		fs := newFlagSet("service", "service install|uninstall|start|stop [run flags]", serviceExamples, stdio.err)
		fs.Usage()
		return req, exitOK, nil
	case "install", "uninstall", "start", "stop":
	default:
		return req, exitError, fmt.Errorf("%w (unknown action %q)", errServiceUsage, sanitizeLine(req.action))
	}
	fs := newFlagSet("service "+req.action, "service "+req.action+" [run flags]", serviceExamples, stdio.err)
	o := addRunFlags(fs)
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return req, code, nil
	}
	if fs.NArg() > 0 {
		return req, exitError, fmt.Errorf("%w (unexpected argument %q)", errServiceUsage, sanitizeLine(fs.Arg(0)))
	}
	req.name = *o.serviceName
	if req.action == "install" {
		// Store exactly the flags the user gave (environment defaults
		// are not the service's environment).
		fs.Visit(func(f *flag.Flag) {
			req.runArgs = append(req.runArgs, "--"+f.Name+"="+f.Value.String())
		})
	} else if fs.NFlag() > 1 || (fs.NFlag() == 1 && !flagGiven(fs, "service-name")) {
		return req, exitError, fmt.Errorf("%w (%s takes only --service-name)", errServiceUsage, req.action)
	}
	if req.name == "" || strings.ContainsAny(req.name, `\/`) {
		return req, exitError, fmt.Errorf("bad service name %q", sanitizeLine(req.name))
	}
	return req, -1, nil
}

func runServiceCmd(_ context.Context, args []string, stdio stdio) int {
	req, code, err := parseServiceArgs(args, stdio)
	if err != nil {
		fmt.Fprintf(stdio.err, "smsswatch service: %v\n", err)
		return code
	}
	if code >= 0 {
		return code
	}
	msg, err := controlService(req)
	if err != nil {
		fmt.Fprintf(stdio.err, "smsswatch service %s: %v\n", req.action, err)
		return exitError
	}
	fmt.Fprintln(stdio.out, msg)
	return exitOK
}

// flagGiven reports whether flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
