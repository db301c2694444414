package accesslog

import (
	"bytes"
	"net"
	"strings"

	"github.com/casketserver/casket/httpserver"
)

// Predefined formats, usable as {common} and {combined} inside a custom format.
const (
	CommonFormat   = `{remote} - {user} [{when}] "{method} {uri} {proto}" {status} {size}`
	CombinedFormat = CommonFormat + ` "{>Referer}" "{>User-Agent}"`
)

// redacted replaces values that must never reach a log: credentials and cookies.
const redacted = "REDACTED"

// segment is a literal or a placeholder of a compiled format.
type segment struct {
	lit    string
	ph     bool   // a placeholder, not a literal
	name   string // placeholder name without braces
	remote bool   // {remote}: apply the IP masks
	secret bool   // a credential or cookie: always written as REDACTED
}

// compile splits a format into segments once, at setup. {common} and {combined} expand first; "\{" and
// "\}" are literal braces, as in the placeholder replacer.
func compile(format string) []segment {
	format = strings.ReplaceAll(format, "{common}", CommonFormat)
	format = strings.ReplaceAll(format, "{combined}", CombinedFormat)
	var segs []segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c == '\\' && i+1 < len(format) && (format[i+1] == '{' || format[i+1] == '}') {
			lit.WriteByte(format[i+1])
			i++
			continue
		}
		if c != '{' {
			lit.WriteByte(c)
			continue
		}
		end := strings.IndexByte(format[i+1:], '}')
		if end < 0 {
			lit.WriteString(format[i:])
			break
		}
		flush()
		name := format[i+1 : i+1+end]
		segs = append(segs, segment{ph: true, name: name, remote: name == "remote", secret: isSecret(name)})
		i += end + 1
	}
	flush()
	return segs
}

// isSecret reports whether a placeholder would expose credentials or cookies.
func isSecret(name string) bool {
	if name == "" {
		return false
	}
	switch name[0] {
	case '~':
		return true
	case '>', '<':
		switch strings.ToLower(name[1:]) {
		case "authorization", "proxy-authorization", "cookie", "set-cookie":
			return true
		}
	}
	return false
}

// IPMask hides the low bits of client addresses in {remote}.
type IPMask struct {
	V4 net.IPMask // nil: IPv4 addresses are logged whole
	V6 net.IPMask // nil: IPv6 addresses are logged whole
}

func (m *IPMask) apply(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		return addr
	}
	if ip4 := ip.To4(); ip4 != nil {
		if m.V4 == nil {
			return addr
		}
		return ip4.Mask(m.V4).String()
	}
	if m.V6 == nil {
		return addr
	}
	return ip.Mask(m.V6).String()
}

// render appends one log line (with its newline) for the request to buf.
func render(buf *bytes.Buffer, segs []segment, rp *httpserver.Replacer, mask *IPMask) {
	for _, s := range segs {
		if !s.ph {
			buf.WriteString(s.lit)
			continue
		}
		if s.secret {
			buf.WriteString(redacted)
			continue
		}
		v, ok := rp.Value(s.name)
		if !ok || v == "" {
			buf.WriteByte('-')
			continue
		}
		if s.remote && mask != nil {
			v = mask.apply(v)
		}
		if strings.ContainsAny(v, "\r\n") { // one entry per line, whatever a header says
			v = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(v)
		}
		buf.WriteString(v)
	}
	buf.WriteByte('\n')
}
