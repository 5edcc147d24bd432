//go:build windows && cgo

package live

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/sessmgr"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// regRescan is how often every control set is read again even without a
// change notification (a missed notification, or a control set added).
const regRescan = time.Minute

// controlSets returns the control sets to watch: CurrentControlSet, and
// every ControlSet00N except the one CurrentControlSet links to (it would
// report each change twice).
func controlSets() ([]string, error) {
	sys, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM`, registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return nil, fmt.Errorf("open HKLM\\SYSTEM: %w", err)
	}
	defer sys.Close()
	names, err := sys.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("list HKLM\\SYSTEM: %w", err)
	}
	current := ""
	if sel, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\Select`, registry.QUERY_VALUE); err == nil {
		if n, _, err := sel.GetIntegerValue("Current"); err == nil {
			current = fmt.Sprintf("ControlSet%03d", n)
		}
		sel.Close()
	}
	out := []string{"CurrentControlSet"}
	for _, n := range names {
		if set, ok := sessmgr.ControlSetName(n); ok && set != current {
			out = append(out, set)
		}
	}
	return out, nil
}

// readControlSet reads the watched Session Manager values of one control
// set into st. A missing key (AppCertDlls by default) is no value.
func readControlSet(set string, st regState, buf []byte) []byte {
	for _, sub := range sessmgr.Subkeys() {
		path := `SYSTEM\` + set + `\` + sessmgr.Key
		if sub != "" {
			path += `\` + sub
		}
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		names, err := k.ReadValueNames(-1)
		if err != nil {
			k.Close()
			continue
		}
		for _, name := range names {
			if _, ok := sessmgr.Lookup(sub, name); !ok {
				continue
			}
			n, typ, err := k.GetValue(name, buf)
			if errors.Is(err, registry.ErrShortBuffer) && n <= 16<<20 {
				buf = make([]byte, n)
				n, typ, err = k.GetValue(name, buf)
			}
			if err != nil {
				continue
			}
			st.add(regValue{Key: regKeyPath(set, sub), Value: name, Data: formatRegData(typ, buf[:n])})
		}
		k.Close()
	}
	return buf
}

// regWatch is one control set's change notification.
type regWatch struct {
	set   string
	key   registry.Key
	event windows.Handle
}

func (w *regWatch) arm() error {
	const filter = windows.REG_NOTIFY_CHANGE_NAME | windows.REG_NOTIFY_CHANGE_LAST_SET | windows.REG_NOTIFY_THREAD_AGNOSTIC
	if err := windows.RegNotifyChangeKeyValue(windows.Handle(w.key), true, filter, w.event, true); err != nil {
		return fmt.Errorf("RegNotifyChangeKeyValue %s: %w", w.set, err)
	}
	return nil
}

func (w *regWatch) close() {
	w.key.Close()
	windows.CloseHandle(w.event)
}

// watchRegistry sends the baseline of the watched values (RegOpBaseline),
// then a RegOpSetValue or RegOpDeleteValue for each change, until ctx
// ends. The writer of a change is not known to this API.
func watchRegistry(ctx context.Context, host string, c *liveCore, logf func(string, ...any)) {
	// RegNotifyChangeKeyValue registrations belong to the calling thread
	// unless REG_NOTIFY_THREAD_AGNOSTIC (Windows 8+): keep one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	buf := make([]byte, 4096)
	sets, err := controlSets()
	if err != nil {
		logf("registry watch: %v", err)
		c.send(ctx, liveNote{kind: noteBlind, reason: "Session Manager registry cannot be read: " + err.Error()})
		return
	}
	state := map[string]regState{}
	now := c.now()
	for _, set := range sets {
		st := regState{}
		buf = readControlSet(set, st, buf)
		state[set] = st
		for _, r := range baselineRegistry(st) {
			var ev etw.Event
			registryEvent(host, now, r, &ev)
			if !c.send(ctx, liveNote{kind: noteEvent, ev: ev}) {
				return
			}
		}
	}

	stop, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		logf("registry watch: CreateEvent: %v", err)
		return
	}
	defer windows.CloseHandle(stop)
	go func() {
		<-ctx.Done()
		windows.SetEvent(stop)
	}()
	var watches []*regWatch
	defer func() {
		for _, w := range watches {
			w.close()
		}
	}()
	for _, set := range sets {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\`+set+`\`+sessmgr.Key, registry.NOTIFY)
		if err != nil {
			logf("registry watch: open %s: %v", set, err)
			continue
		}
		ev, err := windows.CreateEvent(nil, 0, 0, nil)
		if err != nil {
			k.Close()
			continue
		}
		w := &regWatch{set: set, key: k, event: ev}
		if err := w.arm(); err != nil {
			logf("registry watch: %v", err)
			w.close()
			continue
		}
		watches = append(watches, w)
	}
	if len(watches) == 0 {
		c.send(ctx, liveNote{kind: noteBlind, reason: "Session Manager registry changes cannot be watched"})
	}
	handles := []windows.Handle{stop}
	for _, w := range watches {
		handles = append(handles, w.event)
	}
	rescan := func(set string) bool {
		cur := regState{}
		buf = readControlSet(set, cur, buf)
		changes := diffRegistry(state[set], cur)
		state[set] = cur
		at := c.now()
		for _, r := range changes {
			var ev etw.Event
			registryEvent(host, at, r, &ev)
			if !c.send(ctx, liveNote{kind: noteEvent, ev: ev}) {
				return false
			}
		}
		return true
	}
	for {
		i, err := windows.WaitForMultipleObjects(handles, false, uint32(regRescan/time.Millisecond))
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			logf("registry watch: wait: %v", err)
			return
		case i == uint32(windows.WAIT_TIMEOUT):
			for _, set := range sets {
				if !rescan(set) {
					return
				}
			}
		case i >= windows.WAIT_OBJECT_0+1 && int(i-windows.WAIT_OBJECT_0) < len(handles):
			w := watches[i-windows.WAIT_OBJECT_0-1]
			// Re-arm first so that a change made while we read is not
			// missed.
			if err := w.arm(); err != nil {
				logf("registry watch: %v", err)
			}
			if !rescan(w.set) {
				return
			}
		default:
			return
		}
	}
}
