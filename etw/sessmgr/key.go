package sessmgr

// IsKey reports whether a registry key path is the Session Manager key of
// a control set, or under it, in any of the forms the sources write
// (HKLM\..., \REGISTRY\MACHINE\...): its elements contain
// CurrentControlSet or ControlSetNNN, then Control, then Session Manager
// (compared case-insensitively, as the registry does; no trimming, since
// "Session Manager " is another key).
func IsKey(key string) bool {
	var prev2, prev1 string
	for len(key) > 0 {
		el := key
		if i := indexByte(key, '\\'); i >= 0 {
			el, key = key[:i], key[i+1:]
		} else {
			key = ""
		}
		if equalFold(el, "Session Manager") && equalFold(prev1, "Control") && IsControlSet(prev2) {
			return true
		}
		prev2, prev1 = prev1, el
	}
	return false
}

// IsControlSet reports whether el, one element of a key path, is
// CurrentControlSet or ControlSetNNN (any ASCII case).
func IsControlSet(el string) bool {
	if equalFold(el, "CurrentControlSet") {
		return true
	}
	if len(el) != len("ControlSet001") || !equalFold(el[:10], "ControlSet") {
		return false
	}
	for i := 10; i < len(el); i++ {
		if el[i] < '0' || el[i] > '9' {
			return false
		}
	}
	return true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// equalFold compares ASCII case-insensitively (registry names of interest
// are ASCII; a non-ASCII lookalike is another key).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
