package stream

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// DefaultSubjectPrefix is the first subject token when none is configured.
const DefaultSubjectPrefix = "smsswatch"

// maxHostToken caps a host token. Host names are at most 253 bytes; a longer
// (hostile or broken) name is cut and suffixed with a hash of the whole name
// so that it stays deterministic and distinct.
const maxHostToken = 96

// SanitizeHost returns the subject token for a host name: ASCII letters are
// lower-cased, digits, '-' and '_' are kept, and every other character
// (dots, wildcards, spaces, control characters, non-ASCII and invalid UTF-8)
// becomes '_'. An empty name becomes "unknown"; a name longer than 96
// bytes is cut and ends with '~' and 8 hex digits of its hash. The result is
// always a single valid NATS subject token.
func SanitizeHost(host string) string {
	return string(appendHostToken(make([]byte, 0, len(host)), host))
}

// appendHostToken appends the SanitizeHost token for host to dst without
// allocating when dst has room.
func appendHostToken(dst []byte, host string) []byte {
	if host == "" {
		return append(dst, "unknown"...)
	}
	start := len(dst)
	for i := 0; i < len(host); {
		c := host[i]
		size := 1
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= utf8.RuneSelf:
			_, size = utf8.DecodeRuneInString(host[i:])
			c = '_'
		default:
			c = '_'
		}
		if len(dst)-start >= maxHostToken {
			dst = dst[:start+maxHostToken-9]
			dst = append(dst, '~')
			var h [4]byte
			binary.BigEndian.PutUint32(h[:], fnv32(host))
			return hex.AppendEncode(dst, h[:])
		}
		dst = append(dst, c)
		i += size
	}
	return dst
}

// fnv32 is FNV-1a over s.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// appendViolationSubject appends prefix.violations.<host>.<rule id>.
func appendViolationSubject(dst []byte, prefix, host, ruleID string) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, ".violations."...)
	dst = appendHostToken(dst, host)
	dst = append(dst, '.')
	for i := 0; i < len(ruleID); i++ {
		c := ruleID[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// ViolationSubject returns the subject a violation of rule ruleID on host is
// published on: prefix.violations.<host token>.<rule id>. Rule IDs contain
// a dot, so "smsswatch.violations.*.smss.image_path" selects one rule on
// every host and "smsswatch.violations.ws01.>" every rule on one host.
func ViolationSubject(prefix, host, ruleID string) string {
	return string(appendViolationSubject(nil, prefix, host, ruleID))
}

// ViolationsWildcard returns prefix.violations.>, the subjects of every
// violation (and of the JetStream stream).
func ViolationsWildcard(prefix string) string { return prefix + ".violations.>" }

// HeartbeatSubject returns prefix.heartbeat.<host token>.
func HeartbeatSubject(prefix, host string) string {
	return prefix + ".heartbeat." + SanitizeHost(host)
}

// FilterSubject returns the subscription subject for alerts of one host
// and/or one rule ("" means any): prefix.violations.HOST.RULE with '*' for
// any host and '>' for any rule. The host is sanitised as publishers do.
func FilterSubject(prefix, host, ruleID string) string {
	h := "*"
	if host != "" {
		h = SanitizeHost(host)
	}
	r := ">"
	if ruleID != "" {
		r = ruleID
	}
	if h == "*" && r == ">" {
		return ViolationsWildcard(prefix)
	}
	return prefix + ".violations." + h + "." + r
}

// ValidatePrefix checks that prefix is one or more literal subject tokens
// (no wildcards, no whitespace, no empty token).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return fmt.Errorf("%w: empty subject prefix", ErrConfig)
	}
	if prefix[0] == '$' {
		// $JS.API, $SYS, $KV...: the server's own subjects.
		return fmt.Errorf("%w: subject prefix %q: subjects beginning with $ are the server's", ErrConfig, prefix)
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" {
			return fmt.Errorf("%w: subject prefix %q has an empty token", ErrConfig, prefix)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c == 0x7f || c == '*' || c == '>' {
				return fmt.Errorf("%w: subject prefix %q: character %q not allowed", ErrConfig, prefix, c)
			}
		}
	}
	return nil
}
