package textparse

// ContainsFold reports whether b contains w, a lower-case ASCII word, in
// any ASCII case.
func ContainsFold(b []byte, w string) bool {
	if len(w) == 0 {
		return true
	}
	for i := 0; i+len(w) <= len(b); i++ {
		if b[i]|0x20 != w[0] {
			continue
		}
		j := 1
		for ; j < len(w); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}
