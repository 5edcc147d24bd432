package detect

import (
	"strings"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/sessmgr"
)

// maxKnownDLLs bounds the KnownDLLs baseline an engine keeps.
const maxKnownDLLs = 1024

// registryState is what the engine keeps about the registry.
type registryState struct {
	// knownDLLs holds the KnownDLLs value names of the baseline.
	knownDLLs map[string]bool
}

func (s *registryState) init() { s.knownDLLs = map[string]bool{} }

// normData normalises registry data for comparison: lower case, NULs and
// line breaks as spaces, runs of spaces collapsed.
func normData(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		switch r {
		case 0, '\r', '\n', '\t':
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if s == "(empty)" {
		s = ""
	}
	return s
}

// writerKind says who wrote a registry value.
type writerKind uint8

const (
	writerUnknown   writerKind = iota
	writerOther                // a program in no class below
	writerBoot                 // System, smss.exe, autochk.exe
	writerServicing            // poqexec.exe, TiWorker.exe, TrustedInstaller.exe
	writerSuspect              // reg.exe, regedit.exe, a user-writable folder
)

var userWritable = []string{`\users\`, `\programdata\`, `\windows\temp\`, `\temp\`, `\perflogs\`, `\$recycle.bin\`, `\windows\tasks\`, `\windows\tracing\`, `\appdata\`, `\public\`}

func (e *Engine) classifyWriter(ev *etw.Event) writerKind {
	if ev.Known&etw.FieldImage == 0 {
		if ev.Known&etw.FieldPID != 0 && ev.Reg.PID == 4 {
			return writerBoot
		}
		return writerUnknown
	}
	img := ev.Reg.Image
	if equalFoldASCII(img, "system") || equalFoldASCII(img, "registry") {
		return writerBoot
	}
	name := strings.ToLower(etw.BaseName(img))
	wp := normalizePath(img)
	rest := wp.rest + `\`
	for _, dir := range userWritable {
		if strings.Contains(rest, dir) {
			return writerSuspect // whatever its name
		}
	}
	inSys := e.paths.inSystem32(img, "") == pathMatch
	switch name {
	case "smss.exe", "autochk.exe":
		if inSys {
			return writerBoot
		}
	case "poqexec.exe", "tiworker.exe", "trustedinstaller.exe":
		// Servicing binaries live in System32, WinSxS or servicing, on
		// the system volume.
		if inSys || e.inServicingDir(wp) {
			return writerServicing
		}
	case "reg.exe", "regedit.exe":
		return writerSuspect
	}
	return writerOther
}

// inServicingDir reports whether wp is under <SystemRoot>\WinSxS or
// <SystemRoot>\servicing on the system volume.
func (e *Engine) inServicingDir(wp winPath) bool {
	if wp.odd {
		return false
	}
	switch {
	case wp.vol == volSystemRoot:
		return strings.HasPrefix(wp.rest, `\winsxs\`) || strings.HasPrefix(wp.rest, `\servicing\`)
	case wp.vol == e.paths.root.vol, e.paths.devices[wp.vol] == e.paths.root.vol && e.paths.root.vol != "":
		root := e.paths.root.rest
		return strings.HasPrefix(wp.rest, root+`\winsxs\`) || strings.HasPrefix(wp.rest, root+`\servicing\`)
	}
	return false
}

// onRegistry applies smss.registry to a registry record.
func (e *Engine) onRegistry(ev *etw.Event) {
	r := &ev.Reg
	sub, ok := sessmgr.Subkey(r.Key)
	if !ok {
		return
	}
	value := strings.ToLower(r.Value)
	if r.Op == etw.RegOpRename && r.NewName != "" {
		// A value renamed into a watched name is a write of that name.
		value = strings.ToLower(etw.BaseName(r.NewName))
	}
	switch sub {
	case "appcertdlls":
		// Default: the key is absent. Any value in it loads into every
		// process that calls CreateProcess.
		if r.Op == etw.RegOpDeleteValue || r.Op == etw.RegOpDeleteKey {
			return
		}
		e.fireRegistry(ev, "key absent", "AppCertDlls DLL registered")
		return
	case "knowndlls":
		switch r.Op {
		case etw.RegOpBaseline:
			if len(e.regState.knownDLLs) < maxKnownDLLs {
				e.regState.knownDLLs[value] = true
			}
		case etw.RegOpSetValue, etw.RegOpRename:
			if value == "" || e.regState.knownDLLs[value] || e.classifyWriter(ev) == writerServicing {
				return
			}
			e.fireRegistry(ev, "the KnownDLLs of the baseline", "KnownDLLs entry added")
		}
		return
	}
	w, ok := sessmgr.Lookup(sub, value)
	if !ok {
		return // other Session Manager keys and values are boot activity
	}
	data := normData(r.Data)
	switch r.Op {
	case etw.RegOpBaseline:
		if w.PendingRename {
			return // pending renames at start are normal; writes are judged
		}
		if sub == "" && (strings.HasPrefix(value, "bootexecute") || strings.HasPrefix(value, "setupexecute")) {
			e.allowBootPrograms(data)
		}
		if !w.HasDefault {
			e.stats.Unevaluated[RuleRegistry][GapNoDefault]++
			return
		}
		if data != w.Default {
			e.fireRegistry(ev, w.Default, "differs from its default")
		}
	case etw.RegOpSetValue, etw.RegOpRename:
		writer := e.classifyWriter(ev)
		if w.PendingRename {
			if writer == writerSuspect {
				e.fireRegistry(ev, "written by Windows servicing only", "PendingFileRenameOperations written")
			} else if writer == writerUnknown {
				e.stats.Unevaluated[RuleRegistry][GapImage]++
			}
			return
		}
		if w.Setup && (writer == writerServicing || (writer == writerUnknown && servicingData(data))) {
			// Windows servicing schedules poqexec.exe here. Live change
			// notifications carry no writer: then the data must say so.
			return
		}
		if w.HasDefault && data == w.Default && r.Op == etw.RegOpSetValue {
			return // the default written back
		}
		e.fireRegistry(ev, w.Default, "written")
	case etw.RegOpDeleteValue:
		if w.PendingRename || !w.HasDefault || w.Default == "" {
			return
		}
		writer := e.classifyWriter(ev)
		if writer == writerBoot || writer == writerServicing {
			return
		}
		e.fireRegistry(ev, w.Default, "deleted")
	}
}

// servicingData reports whether SetupExecute data (normalised) only
// schedules Windows servicing: every program it names is poqexec.exe from
// System32, and it names one.
func servicingData(data string) bool {
	if data == "" {
		return true
	}
	programs := 0
	for _, f := range strings.Fields(data) {
		if !strings.HasSuffix(f, ".exe") {
			continue // arguments: /display_progress, \systemroot\winsxs\pending.xml
		}
		programs++
		if f != "poqexec.exe" && !strings.HasSuffix(f, `\system32\poqexec.exe`) {
			return false
		}
		if strings.Contains(f, `\..\`) {
			return false
		}
	}
	return programs > 0
}

// maxBootAllow bounds the programs a baseline can add to the master's
// allow-list.
const maxBootAllow = 64

// allowBootPrograms adds the programs a BootExecute / SetupExecute
// baseline names ("autocheck autochk *" names autochk.exe) to the master's
// allow-list, as DETECTION.md says.
func (e *Engine) allowBootPrograms(data string) {
	fields := strings.Fields(data)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if f == "autocheck" && i+1 < len(fields) {
			i++
			f = fields[i]
		}
		if strings.HasPrefix(f, "/") || strings.HasPrefix(f, "-") || f == "*" || strings.HasSuffix(f, ".xml") {
			continue
		}
		name := etw.BaseName(f)
		if !strings.HasSuffix(name, ".exe") {
			name += ".exe"
		}
		if len(e.bootAllow) < maxBootAllow {
			e.bootAllow[name] = true
		}
	}
}

// fireRegistry emits smss.registry for ev.
func (e *Engine) fireRegistry(ev *etw.Event, def, what string) {
	r := &ev.Reg
	v := &e.v
	*v = Violation{Rule: RuleRegistry, Time: ev.Time, Host: e.host, Source: e.src, Count: 1}
	if ev.Known&etw.FieldPID != 0 {
		v.Process.PID = r.PID
		v.Process.Known |= etw.FieldPID
	}
	if ev.Known&etw.FieldImage != 0 {
		v.Process.Image = r.Image
		v.Process.Known |= etw.FieldImage
	}
	v.Evidence.RegOp = r.Op.String()
	v.Evidence.RegKey = r.Key
	v.Evidence.RegValue = r.Value
	if r.Op == etw.RegOpRename {
		v.Evidence.RegValue = r.NewName
	}
	v.Evidence.RegData = r.Data
	v.Evidence.RegDefault = def
	v.Evidence.Expected = def
	if def == "" {
		v.Evidence.Expected = "(empty)"
	}
	v.Evidence.Observed = what
	e.msgBuf = append(e.msgBuf[:0], "Session Manager value "...)
	e.msgBuf = append(e.msgBuf, v.Evidence.RegValue...)
	e.msgBuf = append(e.msgBuf, ' ')
	e.msgBuf = append(e.msgBuf, what...)
	if ev.Known&etw.FieldImage != 0 {
		e.msgBuf = append(e.msgBuf, " by "...)
		e.msgBuf = append(e.msgBuf, etw.BaseName(r.Image)...)
	}
	if r.Data != "" {
		e.msgBuf = append(e.msgBuf, ": "...)
		e.msgBuf = append(e.msgBuf, r.Data...)
	}
	b := append(e.keyBuf[:0], "smss.registry\x00"...)
	b = appendLowerASCII(b, e.host)
	b = append(b, 0)
	b = appendLowerASCII(b, r.Key)
	b = append(b, 0)
	b = appendLowerASCII(b, v.Evidence.RegValue)
	b = append(b, 0)
	b = append(b, r.Data...)
	b = append(b, 0)
	b = append(b, r.Op.String()...)
	e.keyBuf = b
	v.DedupeKey = hashBytes(b)
	e.emit()
}
