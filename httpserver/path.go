package httpserver

import (
	"os"
	"strings"
)

// CaseSensitivePath is true when CASE_SENSITIVE_PATH is "1" or "true": base paths then match case-sensitively.
var CaseSensitivePath = caseSensitiveFromEnv()

func caseSensitiveFromEnv() bool {
	v := strings.ToLower(os.Getenv("CASE_SENSITIVE_PATH"))
	return v == "1" || v == "true"
}

// PathMatches reports whether the request path reqPath falls under base, using character-prefix matching
// as Casket does ("/foo" matches "/foobar"; "/" matches everything).
func PathMatches(reqPath, base string) bool {
	if base == "" || base == "/" {
		return true
	}
	if CaseSensitivePath {
		return strings.HasPrefix(reqPath, base)
	}
	return len(reqPath) >= len(base) && strings.EqualFold(reqPath[:len(base)], base)
}
