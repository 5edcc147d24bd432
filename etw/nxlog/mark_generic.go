package nxlog

import "bytes"

// indexMarkGeneric is indexMark without the amd64 vector loop: it looks for the next 'u' preceded by a backslash and the next 'D'
// followed by a quote, and returns the first of the two.
func indexMarkGeneric(b []byte) int {
	u := -1
	for i := 1; i < len(b); {
		j := bytes.IndexByte(b[i:], 'u')
		if j < 0 {
			break
		}
		i += j
		if b[i-1] == '\\' {
			u = i - 1
			break
		}
		i++
	}
	end := len(b)
	if u >= 0 {
		end = u
	}
	for i := 0; i+1 < len(b) && i < end; {
		j := bytes.IndexByte(b[i:end], 'D')
		if j < 0 {
			break
		}
		i += j
		if i+1 < len(b) && b[i+1] == '"' {
			return i
		}
		i++
	}
	return u
}
