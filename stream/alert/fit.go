package alert

import "github.com/smsswatch/smsswatch/detect"

// AppendFit appends v's alert document to dst in at most maxLen
// bytes: when the whole document is larger, every truncatable string field
// is cut to a limit that halves until the document fits. ok is false when
// even empty fields do not fit (dst is returned unchanged); cut says
// whether fields were truncated.
func AppendFit(dst []byte, v *detect.Violation, maxLen int) (out []byte, ok, cut bool) {
	start := len(dst)
	dst = AppendAlert(dst, v)
	if len(dst)-start <= maxLen {
		return dst, true, false
	}
	for lim := maxLen; ; lim /= 2 {
		e := alertEnc{limit: lim}
		dst = e.appendAlert(dst[:start], v)
		if len(dst)-start <= maxLen {
			return dst, true, true
		}
		if lim == 0 {
			return dst[:start], false, true
		}
	}
}
