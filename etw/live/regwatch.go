package live

import (
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/sessmgr"
)

// This file is the pure-Go half of the live Session Manager registry watch:
// which values are watched, how their data is rendered, and how two reads
// are compared. regwatch_windows.go reads the registry and waits for
// changes (RegNotifyChangeKeyValue).

// regKeyPath returns the event's key for a subkey of Session Manager in
// control set set (CurrentControlSet or ControlSet00N):
// HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\SubSystems.
func regKeyPath(set, subkey string) string {
	k := `HKLM\SYSTEM\` + set + `\` + sessmgr.Key
	if subkey != "" {
		k += `\` + subkey
	}
	return k
}

// regValue is one read value.
type regValue struct {
	Key, Value, Data string
}

// regState is one read of the watched values: lower-case "key\x00value"
// to the value.
type regState map[string]regValue

func (s regState) add(v regValue) {
	s[strings.ToLower(v.Key)+"\x00"+strings.ToLower(v.Value)] = v
}

// sortedValues returns the values in key, value order.
func (s regState) sortedValues() []regValue {
	out := make([]regValue, 0, len(s))
	for _, v := range s {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// diffRegistry returns what changed from old to cur: a RegOpSetValue for a
// value that appeared or whose data changed, a RegOpDeleteValue for one
// that disappeared. The order is stable (key, value).
func diffRegistry(old, cur regState) []etw.Registry {
	var out []etw.Registry
	for _, v := range cur.sortedValues() {
		k := strings.ToLower(v.Key) + "\x00" + strings.ToLower(v.Value)
		if o, ok := old[k]; ok && o.Data == v.Data {
			continue
		}
		out = append(out, etw.Registry{Op: etw.RegOpSetValue, Key: v.Key, Value: v.Value, Data: v.Data})
	}
	for _, v := range old.sortedValues() {
		k := strings.ToLower(v.Key) + "\x00" + strings.ToLower(v.Value)
		if _, ok := cur[k]; !ok {
			out = append(out, etw.Registry{Op: etw.RegOpDeleteValue, Key: v.Key, Value: v.Value})
		}
	}
	return out
}

// baselineRegistry returns one RegOpBaseline per value of s.
func baselineRegistry(s regState) []etw.Registry {
	var out []etw.Registry
	for _, v := range s.sortedValues() {
		out = append(out, etw.Registry{Op: etw.RegOpBaseline, Key: v.Key, Value: v.Value, Data: v.Data})
	}
	return out
}

// registryEvent fills ev with a KindRegistry event for r, observed at at.
// The live watch cannot tell which process wrote a value, so the writer
// (FieldPID, FieldImage) stays unknown.
func registryEvent(host string, at int64, r etw.Registry, ev *etw.Event) {
	ev.Reset()
	ev.Kind = etw.KindRegistry
	ev.Source = etw.SourceETW
	ev.Host = host
	ev.Time = at
	ev.Reg = r
}

// Registry value types (winnt.h).
const (
	regNone     = 0
	regSZ       = 1
	regExpandSZ = 2
	regBinary   = 3
	regDWORD    = 4
	regDWORDBE  = 5
	regLink     = 6
	regMultiSZ  = 7
	regQWORD    = 11
)

// formatRegData renders raw registry data of type typ as the event model
// wants it (Registry.Data): strings as they are (expandable strings not
// expanded), REG_MULTI_SZ strings joined with a single space, DWORD and
// QWORD as Sysmon writes them ("DWORD (0x00000001)"), anything else as
// "Binary Data" followed by hex.
func formatRegData(typ uint32, raw []byte) string {
	switch typ {
	case regSZ, regExpandSZ, regLink:
		return strings.TrimRight(utf16LE(raw), "\x00")
	case regMultiSZ:
		parts := strings.Split(utf16LE(raw), "\x00")
		out := parts[:0]
		for _, p := range parts {
			if p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, " ")
	case regDWORD:
		if len(raw) >= 4 {
			return "DWORD (0x" + hex8(uint64(binary.LittleEndian.Uint32(raw)), 8) + ")"
		}
	case regDWORDBE:
		if len(raw) >= 4 {
			return "DWORD (0x" + hex8(uint64(binary.BigEndian.Uint32(raw)), 8) + ")"
		}
	case regQWORD:
		if len(raw) >= 8 {
			return "QWORD (0x" + hex8(binary.LittleEndian.Uint64(raw), 16) + ")"
		}
	case regNone:
		if len(raw) == 0 {
			return ""
		}
	}
	return "Binary Data " + hex.EncodeToString(raw)
}

func hex8(v uint64, width int) string {
	s := strconv.FormatUint(v, 16)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// utf16LE decodes little-endian UTF-16 (an odd trailing byte is dropped).
func utf16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
