package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The ACL checker behind `service install` and the service's start-up
// checks, as pure functions over SDDL strings (the Windows side gets a
// path's SDDL with GetNamedSecurityInfo; see acl_windows.go). Only the
// owner (O:) and the DACL (D:) are read.
//
// The decision is deliberately conservative: every allow ACE that applies
// to the object itself (not inherit-only) grants its rights to its SID;
// deny ACEs are not subtracted (a deny that would save a path is not
// worth the risk of evaluating group membership wrongly), so a path is
// "writable by others" when any SID outside SYSTEM, Administrators and
// TrustedInstaller is allowed a right that changes it, or owns it (an
// owner can always rewrite the DACL). A NULL DACL grants everything to
// everyone.

// Well-known SIDs the checker trusts.
const (
	sidSystem           = "S-1-5-18"
	sidAdministrators   = "S-1-5-32-544"
	sidTrustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
)

// trustedSIDs may write (and read) the sensor's binary and data.
var trustedSIDs = map[string]bool{sidSystem: true, sidAdministrators: true, sidTrustedInstaller: true}

// sddlAliases are the SDDL SID strings (two letters) Windows emits, to
// their SIDs. Domain-relative aliases (DA, DU, ...) cannot be resolved
// without the domain: they stay as written and count as others.
var sddlAliases = map[string]string{
	"AN": "S-1-5-7", "AO": "S-1-5-32-548", "AU": "S-1-5-11", "BA": sidAdministrators, "BG": "S-1-5-32-546",
	"BO": "S-1-5-32-551", "BU": "S-1-5-32-545", "CO": "S-1-3-0", "CG": "S-1-3-1", "ED": "S-1-5-9",
	"IU": "S-1-5-4", "LS": "S-1-5-19", "NS": "S-1-5-20", "NU": "S-1-5-2", "OW": "S-1-3-4", "PO": "S-1-5-32-550",
	"PU": "S-1-5-32-547", "RC": "S-1-5-12", "RD": "S-1-5-32-555", "RE": "S-1-5-32-552", "RU": "S-1-5-32-554",
	"SO": "S-1-5-32-549", "SU": "S-1-5-6", "SY": sidSystem, "WD": "S-1-1-0", "WR": "S-1-5-33", "AC": "S-1-15-2-1",
	"HI": "S-1-16-12288", "ME": "S-1-16-8192", "LW": "S-1-16-4096", "SI": "S-1-16-16384", "S-1-5-80-0": "S-1-5-80-0",
}

// sddlRights are the SDDL access-right codes.
var sddlRights = map[string]uint32{
	"GA": 0x10000000, "GR": 0x80000000, "GW": 0x40000000, "GX": 0x20000000,
	"RC": 0x00020000, "SD": 0x00010000, "WD": 0x00040000, "WO": 0x00080000,
	"RP": 0x0010, "WP": 0x0020, "CC": 0x0001, "DC": 0x0002, "LC": 0x0004, "SW": 0x0008,
	"LO": 0x0080, "DT": 0x0040, "CR": 0x0100,
	"FA": 0x001F01FF, "FR": 0x00120089, "FW": 0x00120116, "FX": 0x001200A0,
	"KA": 0x000F003F, "KR": 0x00020019, "KW": 0x00020006, "KX": 0x00020019,
}

// Rights that change a file or folder (or its ACL), and rights that read
// its content (or list a folder).
const (
	writeRights = 0x0002 | // FILE_WRITE_DATA / FILE_ADD_FILE
		0x0004 | // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
		0x0010 | // FILE_WRITE_EA
		0x0040 | // FILE_DELETE_CHILD
		0x0100 | // FILE_WRITE_ATTRIBUTES
		0x00010000 | // DELETE
		0x00040000 | // WRITE_DAC
		0x00080000 | // WRITE_OWNER
		0x40000000 | // GENERIC_WRITE
		0x10000000 | // GENERIC_ALL
		0x02000000 // MAXIMUM_ALLOWED
	// replaceRights are the rights on a folder above the binary's that
	// let its holder swap the next path component (delete or rename it,
	// or take the folder over). FILE_ADD_SUBDIRECTORY alone, which
	// Authenticated Users hold on C:\, does not.
	replaceRights = 0x0040 | // FILE_DELETE_CHILD
		0x00010000 | // DELETE
		0x00040000 | // WRITE_DAC
		0x00080000 | // WRITE_OWNER
		0x10000000 | // GENERIC_ALL
		0x02000000 // MAXIMUM_ALLOWED
	readRights = 0x0001 | // FILE_READ_DATA / FILE_LIST_DIRECTORY
		0x80000000 | // GENERIC_READ
		0x10000000 | // GENERIC_ALL
		0x02000000 // MAXIMUM_ALLOWED
)

// aceFlagInheritOnly is the IO flag: the ACE applies to children only.
const aceFlagInheritOnly = "IO"

// sddlACE is one ACE of a DACL.
type sddlACE struct {
	// typ is the ACE type: A (allow), D (deny), OA, OD, XA, XD, ZA, ...
	typ   string
	flags []string
	mask  uint32
	sid   string
}

// allows reports whether the ACE grants rights.
func (a *sddlACE) allows() bool {
	switch a.typ {
	case "A", "OA", "XA", "ZA":
		return true
	}
	return false
}

// appliesToObject reports whether the ACE is not inherit-only.
func (a *sddlACE) appliesToObject() bool {
	for _, f := range a.flags {
		if f == aceFlagInheritOnly {
			return false
		}
	}
	return true
}

// securityDescriptor is the owner and DACL of an SDDL string.
type securityDescriptor struct {
	owner string
	// hasDACL is false when the string has no D: part (not asked for).
	hasDACL bool
	// nullDACL is D:NO_ACCESS_CONTROL: everyone may do everything.
	nullDACL bool
	// protected is the P flag: no inheritance from the parent.
	protected bool
	aces      []sddlACE
}

// errSDDL is wrapped by every parse error.
var errSDDL = errors.New("malformed SDDL")

// parseSDDL reads the owner and DACL of s.
func parseSDDL(s string) (securityDescriptor, error) {
	var sd securityDescriptor
	parts, err := sddlParts(s)
	if err != nil {
		return sd, err
	}
	if o, ok := parts['O']; ok {
		sd.owner = normSID(o)
	}
	d, ok := parts['D']
	if !ok {
		return sd, nil
	}
	sd.hasDACL = true
	i := strings.IndexByte(d, '(')
	if i < 0 {
		i = len(d)
	}
	for flags := d[:i]; flags != ""; {
		switch {
		case strings.HasPrefix(flags, "NO_ACCESS_CONTROL"):
			sd.nullDACL = true
			flags = flags[len("NO_ACCESS_CONTROL"):]
		case strings.HasPrefix(flags, "P"):
			sd.protected = true
			flags = flags[1:]
		case strings.HasPrefix(flags, "AI"), strings.HasPrefix(flags, "AR"):
			flags = flags[2:]
		default:
			return sd, fmt.Errorf("%w: DACL flags %q", errSDDL, d[:i])
		}
	}
	rest := d[i:]
	for rest != "" {
		if rest[0] != '(' {
			return sd, fmt.Errorf("%w: text between ACEs: %q", errSDDL, rest)
		}
		end := matchParen(rest)
		if end < 0 {
			return sd, fmt.Errorf("%w: unterminated ACE %q", errSDDL, rest)
		}
		ace, err := parseACE(rest[1:end])
		if err != nil {
			return sd, err
		}
		sd.aces = append(sd.aces, ace)
		rest = rest[end+1:]
	}
	return sd, nil
}

// sddlParts splits "O:..G:..D:..S:.." into its parts (the letter before
// a colon at nesting depth 0 starts a part).
func sddlParts(s string) (map[byte]string, error) {
	parts := map[byte]string{}
	depth, cur, start := 0, byte(0), 0
	flush := func(end int) {
		if cur != 0 {
			parts[cur] = s[start:end]
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("%w: unbalanced ')'", errSDDL)
			}
		case 'O', 'G', 'D', 'S':
			if depth == 0 && i+1 < len(s) && s[i+1] == ':' {
				if _, dup := parts[c]; dup || c == cur {
					return nil, fmt.Errorf("%w: part %c: twice", errSDDL, c)
				}
				flush(i)
				cur, start = c, i+2
				i++
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%w: unbalanced '('", errSDDL)
	}
	if cur == 0 && s != "" {
		return nil, fmt.Errorf("%w: no O:, G:, D: or S: part", errSDDL)
	}
	flush(len(s))
	return parts, nil
}

// matchParen returns the index of the ')' closing s[0] == '(', or -1.
func matchParen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parseACE reads "type;flags;rights;object;inherited object;sid[;extra]".
func parseACE(s string) (sddlACE, error) {
	f := strings.SplitN(s, ";", 7)
	if len(f) < 6 {
		return sddlACE{}, fmt.Errorf("%w: ACE %q has %d fields", errSDDL, s, len(f))
	}
	a := sddlACE{typ: f[0], sid: normSID(f[5])}
	if a.typ == "" || a.sid == "" {
		return a, fmt.Errorf("%w: ACE %q without type or SID", errSDDL, s)
	}
	for fl := f[1]; fl != ""; {
		if len(fl) < 2 {
			return a, fmt.Errorf("%w: ACE flags %q", errSDDL, f[1])
		}
		a.flags = append(a.flags, fl[:2])
		fl = fl[2:]
	}
	mask, err := parseRights(f[2])
	if err != nil {
		return a, fmt.Errorf("%w: ACE %q: %v", errSDDL, s, err)
	}
	a.mask = mask
	return a, nil
}

// parseRights reads an SDDL rights field: a number (0x1f01ff, or decimal)
// or two-letter codes.
func parseRights(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	if s[0] >= '0' && s[0] <= '9' {
		v, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			return 0, fmt.Errorf("rights %q", s)
		}
		return uint32(v), nil
	}
	var m uint32
	for r := s; r != ""; r = r[2:] {
		if len(r) < 2 {
			return 0, fmt.Errorf("rights %q", s)
		}
		v, ok := sddlRights[r[:2]]
		if !ok {
			return 0, fmt.Errorf("unknown right %q", r[:2])
		}
		m |= v
	}
	return m, nil
}

// normSID returns the S-1-... form of an SDDL SID string (an alias when it
// is one Windows uses; other text as is).
func normSID(s string) string {
	if v, ok := sddlAliases[s]; ok {
		return v
	}
	return strings.ToUpper(s)
}

// aclFinding is one grant that makes a path unsafe.
type aclFinding struct {
	sid  string
	mask uint32
	// why is "owner", "NULL DACL" or the ACE type.
	why string
}

// String renders the finding for a message.
func (f aclFinding) String() string {
	name := sidName(f.sid)
	if f.why == "owner" {
		return name + " owns it"
	}
	return name + " is allowed 0x" + strconv.FormatUint(uint64(f.mask), 16) + " (" + f.why + ")"
}

// sidName puts a readable name beside the well-known SIDs.
func sidName(sid string) string {
	switch sid {
	case "S-1-1-0":
		return "Everyone (S-1-1-0)"
	case "S-1-5-11":
		return "Authenticated Users (S-1-5-11)"
	case "S-1-5-32-545":
		return "Users (S-1-5-32-545)"
	case "S-1-3-0":
		return "CREATOR OWNER (S-1-3-0)"
	case "S-1-5-4":
		return "INTERACTIVE (S-1-5-4)"
	}
	return sid
}

// grantedToOthers lists who outside trustedSIDs holds any of rights.
func (sd *securityDescriptor) grantedToOthers(rights uint32, withOwner bool) []aclFinding {
	var out []aclFinding
	if withOwner && sd.owner != "" && !trustedSIDs[sd.owner] {
		out = append(out, aclFinding{sid: sd.owner, why: "owner"})
	}
	if !sd.hasDACL {
		return out
	}
	if sd.nullDACL {
		return append(out, aclFinding{sid: "S-1-1-0", mask: 0xffffffff, why: "NULL DACL"})
	}
	for i := range sd.aces {
		a := &sd.aces[i]
		if !a.allows() || !a.appliesToObject() || trustedSIDs[a.sid] || placeholderSID(a.sid) || a.mask&rights == 0 {
			continue
		}
		out = append(out, aclFinding{sid: a.sid, mask: a.mask, why: "allow ACE " + a.typ})
	}
	return out
}

// placeholderSID reports CREATOR OWNER and CREATOR GROUP: they stand for
// the creator in inheritable ACEs and grant nothing on the object itself.
func placeholderSID(sid string) bool { return sid == "S-1-3-0" || sid == "S-1-3-1" }

// replaceableByOthers lists who besides them can swap what is inside a
// folder (delete, rename, or take over the folder).
func (sd *securityDescriptor) replaceableByOthers() []aclFinding {
	return sd.grantedToOthers(replaceRights, true)
}

// writableByOthers lists who besides SYSTEM, Administrators and
// TrustedInstaller can change the object or its ACL.
func (sd *securityDescriptor) writableByOthers() []aclFinding {
	return sd.grantedToOthers(writeRights, true)
}

// readableByOthers lists who besides them can read its content.
func (sd *securityDescriptor) readableByOthers() []aclFinding {
	return sd.grantedToOthers(readRights, false)
}

// errUnsafeACL is wrapped by every refusal over a path's ACL.
var errUnsafeACL = errors.New("unsafe permissions")

// aclCheck says what must not be granted on a path.
type aclCheck struct {
	path        string
	sddl        string
	noWrite     bool
	noReplace   bool
	noRead      bool
	description string // e.g. "NATS credentials"
}

// checkACL returns nil when sddl grants nobody but SYSTEM, Administrators
// and TrustedInstaller what c forbids, else an error wrapping
// errUnsafeACL that names every grant.
func checkACL(c aclCheck) error {
	sd, err := parseSDDL(c.sddl)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.description, c.path, err)
	}
	if !sd.hasDACL {
		return fmt.Errorf("%s %s: %w: no DACL in %q", c.description, c.path, errUnsafeACL, c.sddl)
	}
	var bad []string
	if c.noWrite {
		for _, f := range sd.writableByOthers() {
			bad = append(bad, "writable: "+f.String())
		}
	}
	if c.noReplace && !c.noWrite {
		for _, f := range sd.replaceableByOthers() {
			bad = append(bad, "replaceable: "+f.String())
		}
	}
	if c.noRead {
		for _, f := range sd.readableByOthers() {
			bad = append(bad, "readable: "+f.String())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s %s: %w: %s", c.description, c.path, errUnsafeACL, strings.Join(bad, "; "))
}

// dataDirSDDL is the protected DACL of %ProgramData%\smsswatch: owner
// Administrators, full control for SYSTEM and Administrators, inherited by
// every file and folder created inside, nothing inherited from above.
const dataDirSDDL = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// installChecks are the checks `service install` makes on the binary exe
// given the SDDL of each of pathsUpward(exe): the binary and its folder
// writable by nobody else (no DLL planted beside it), every folder above
// replaceable by nobody else.
func installChecks(paths, sddls []string) []aclCheck {
	out := make([]aclCheck, 0, len(paths))
	for i, p := range paths {
		c := aclCheck{path: p, sddl: sddls[i]}
		switch i {
		case 0:
			c.description, c.noWrite = "service binary", true
		case 1:
			c.description, c.noWrite = "folder of the service binary", true
		default:
			c.description, c.noReplace = "folder above the service binary", true
		}
		out = append(out, c)
	}
	return out
}

// pathsUpward returns path and every folder above it, path first:
// C:\Program Files\smsswatch\smsswatch.exe, C:\Program Files\smsswatch,
// C:\Program Files, C:\. It works on Windows paths on any OS.
func pathsUpward(path string) []string {
	p := strings.TrimRight(strings.ReplaceAll(path, "/", `\`), `\`)
	var out []string
	unc := strings.HasPrefix(p, `\\`)
	for p != "" {
		if unc && strings.Count(p[2:], `\`) <= 1 {
			// \\server\share is the root of a UNC path.
			out = append(out, p)
			break
		}
		if len(p) == 2 && p[1] == ':' {
			out = append(out, p+`\`)
			break
		}
		out = append(out, p)
		i := strings.LastIndexByte(p, '\\')
		if i < 0 {
			break
		}
		if i == 2 && p[1] == ':' {
			out = append(out, p[:3])
			break
		}
		if i == 0 {
			break
		}
		p = p[:i]
	}
	return out
}

// protectedFile is a file the service trusts.
type protectedFile struct {
	path, what string
	// secret: nobody else may read it either.
	secret bool
}

// serviceFiles lists the files named by the run flags that the service
// trusts: config, credentials, keys and the spool (write: replayed to
// NATS; read: alerts), CA and certificate (write only).
func serviceFiles(flag func(name string) string) []protectedFile {
	var out []protectedFile
	for _, f := range []protectedFile{
		{path: flag("config"), what: "detector configuration", secret: true},
		{path: flag("creds"), what: "NATS credentials", secret: true},
		{path: flag("nkey"), what: "NKey seed", secret: true},
		{path: flag("tls-key"), what: "TLS client key", secret: true},
		{path: flag("spool"), what: "spool folder", secret: true},
		{path: flag("tls-ca"), what: "TLS CA file"},
		{path: flag("tls-cert"), what: "TLS client certificate"},
		{path: flag("log-file"), what: "log file"},
	} {
		if f.path != "" {
			out = append(out, f)
		}
	}
	return out
}
