package encode

import (
	"strconv"
	"strings"
)

// Content codings this package produces, in order of preference when the client rates them equally.
const (
	codingZstd   = "zstd"
	codingBrotli = "br"
	codingGzip   = "gzip"
)

var preference = [...]string{codingZstd, codingBrotli, codingGzip}

// negotiate picks the coding for an Accept-Encoding header value: the supported coding with the highest
// q-value (a coding not listed gets the q of "*", if any), ties broken by preference. It returns "" when
// none is acceptable, so the response goes out as is ("identity" needs no work from us).
func negotiate(header string) string {
	if header == "" {
		return ""
	}
	var q [len(preference)]float64
	var listed [len(preference)]bool
	star, hasStar := 0.0, false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		v := qValue(params)
		if name == "*" {
			star, hasStar = v, true
			continue
		}
		if name == "x-gzip" {
			name = codingGzip
		}
		for i, c := range preference {
			if c == name {
				q[i], listed[i] = max(q[i], v), true
			}
		}
	}
	best, bestQ := "", 0.0
	for i, c := range preference {
		v := q[i]
		if !listed[i] && hasStar {
			v = star
		}
		if v > bestQ {
			best, bestQ = c, v
		}
	}
	return best
}

// qValue reads the q parameter of one Accept-Encoding element; it is 1 when absent and 0 when invalid.
func qValue(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return 0
		}
		return f
	}
	return 1
}
