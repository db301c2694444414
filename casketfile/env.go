package casketfile

import "strings"

// substitute replaces the parse-time environment references in s: {$NAME} and {%NAME%} become the value of
// the environment variable NAME, or "" when it is unset. The result is always one token, whatever the value
// holds, and values are not searched again for references.
//
// Left untouched, for directives that expand placeholders per request:
//   - {$NAME=default}: a name containing '=' is the runtime form with a default value;
//   - a reference whose '{' is escaped as "\{", e.g. \{$HOME}, so it reaches the runtime replacer, which
//     then prints it literally.
//
// A name is one or more characters other than '{', '}', '=' and, in the {%NAME%} form, '%'.
func substitute(s string, getenv func(string) string) string {
	if !strings.Contains(s, "{$") && !strings.Contains(s, "{%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '{' {
			b.WriteString(s[i : i+2])
			i += 2
			continue
		}
		if s[i] == '{' && i+1 < len(s) {
			if name, n := envRef(s[i:]); n > 0 {
				b.WriteString(getenv(name))
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// envRef reads a reference at the start of s ("{$NAME}" or "{%NAME%}") and returns the name and the
// reference's length, or n == 0 when s does not start with a parse-time reference.
func envRef(s string) (name string, n int) {
	var end string
	switch {
	case strings.HasPrefix(s, "{$"):
		end = "}"
	case strings.HasPrefix(s, "{%"):
		end = "%}"
	default:
		return "", 0
	}
	k := strings.Index(s[2:], end)
	if k <= 0 {
		return "", 0
	}
	name = s[2 : 2+k]
	bad := "{}="
	if end == "%}" {
		bad += "%"
	}
	if strings.ContainsAny(name, bad) {
		return "", 0
	}
	return name, 2 + k + len(end)
}
