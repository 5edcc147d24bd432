package sessmgr

import "strings"

// Key is the path of Session Manager below a control set.
const Key = `Control\Session Manager`

// Value is one watched Session Manager value of DETECTION.md's
// smss.registry: the catalogue the live registry watch reads and the
// registry rule judges.
type Value struct {
	// Subkey is relative to Session Manager ("" is the key itself).
	Subkey string
	// Name is the value's name; "*" is every value of Subkey.
	Name string
	// Default is the default data, normalised (lower case, single
	// spaces); HasDefault is false for values the contract gives no
	// default (any write is news) and for the "*" entries.
	Default    string
	HasDefault bool
	// PendingRename marks PendingFileRenameOperations*: judged by who
	// writes it, not by its data.
	PendingRename bool
	// Setup marks SetupExecute*, which Windows servicing writes.
	Setup bool
}

// watched is the catalogue; nothing changes it.
var watched = [...]Value{
	{Name: "BootExecute", Default: "autocheck autochk *", HasDefault: true},
	{Name: "BootExecuteNoPnpSync", HasDefault: true},
	{Name: "SetupExecute", HasDefault: true, Setup: true},
	{Name: "SetupExecuteNoPnpSync", HasDefault: true, Setup: true},
	{Name: "PlatformExecute", HasDefault: true},
	{Name: "Execute", HasDefault: true},
	{Name: "S0InitialCommand", HasDefault: true},
	{Name: "PendingFileRenameOperations", PendingRename: true},
	{Name: "PendingFileRenameOperations2", PendingRename: true},
	{Subkey: "SubSystems", Name: "Windows"},
	{Subkey: "SubSystems", Name: "Required", Default: "debug windows", HasDefault: true},
	{Subkey: "SubSystems", Name: "Optional"},
	{Subkey: "SubSystems", Name: "Kmode"},
	{Subkey: "AppCertDlls", Name: "*"},
	{Subkey: "KnownDLLs", Name: "*"},
}

// Subkeys returns the distinct subkeys of the catalogue, in order (""
// first).
func Subkeys() []string {
	var out []string
	for _, v := range watched {
		seen := false
		for _, s := range out {
			seen = seen || s == v.Subkey
		}
		if !seen {
			out = append(out, v.Subkey)
		}
	}
	return out
}

// Lookup returns the catalogue entry of value name of subkey (both
// compared case-insensitively, as the registry does): an exact entry, or
// the subkey's "*" entry.
func Lookup(subkey, name string) (Value, bool) {
	for _, v := range watched {
		if strings.EqualFold(v.Subkey, subkey) && (v.Name == "*" || strings.EqualFold(v.Name, name)) {
			return v, true
		}
	}
	return Value{}, false
}

// ControlSetName returns the canonical name (ControlSetNNN) of an
// HKLM\SYSTEM subkey that is a numbered control set, or ok false (for
// CurrentControlSet too, which is a link).
func ControlSetName(name string) (string, bool) {
	if len(name) != len("ControlSet001") || !IsControlSet(name) || equalFold(name, "CurrentControlSet") {
		return "", false
	}
	return "ControlSet" + name[10:], true
}

// Subkey returns the part of key below Session Manager ("" for the key
// itself), lower case, without trailing separators, when key is
// HKLM\SYSTEM\<control set>\Control\Session Manager or below it, written
// as HKLM\, HKEY_LOCAL_MACHINE\ or \REGISTRY\MACHINE\ (with \ or /).
func Subkey(key string) (string, bool) {
	k := strings.ToLower(strings.ReplaceAll(key, "/", `\`))
	for _, prefix := range []string{`hklm\`, `hkey_local_machine\`, `\registry\machine\`, `registry\machine\`} {
		if strings.HasPrefix(k, prefix) {
			k = k[len(prefix):]
			break
		}
	}
	if !strings.HasPrefix(k, `system\`) {
		return "", false
	}
	k = k[len(`system\`):]
	i := strings.IndexByte(k, '\\')
	if i < 0 || !IsControlSet(k[:i]) {
		return "", false
	}
	k = k[i:]
	const sm = `\control\session manager`
	if !strings.HasPrefix(k, sm) {
		return "", false
	}
	k = k[len(sm):]
	if k == "" {
		return "", true
	}
	if k[0] != '\\' {
		return "", false
	}
	return strings.TrimRight(k[1:], `\`), true
}
