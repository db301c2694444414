package fileserver

// pickVariant chooses the precompressed sibling to serve for an Accept-Encoding header: the coding with
// the highest q-value among those present, ties going to the earlier variant (zstd, then br, then
// gzip). It returns nil when the client accepts none of them.
func pickVariant(acceptEncoding []string, variants []*fileMeta) *fileMeta {
	var best *fileMeta
	bestQ := 0
	for _, v := range variants {
		q := codingQ(acceptEncoding, v.encoding)
		if q > bestQ {
			best, bestQ = v, q
		}
	}
	return best
}

// codingQ returns the q-value (0 to 1000) the Accept-Encoding header values give coding. A coding that
// is not listed gets the q-value of "*", or 0.
func codingQ(vals []string, coding string) int {
	star := -1
	for _, list := range vals {
		for list != "" {
			i := 0
			for i < len(list) && list[i] != ',' {
				i++
			}
			elem := list[:i]
			list = list[min(i+1, len(list)):]
			name, params := elem, ""
			for j := 0; j < len(elem); j++ {
				if elem[j] == ';' {
					name, params = elem[:j], elem[j+1:]
					break
				}
			}
			name = trimOWS(name)
			switch {
			case equalFold(name, coding):
				return parseQ(params)
			case name == "*":
				star = parseQ(params)
			case coding == "gzip" && equalFold(name, "x-gzip"):
				return parseQ(params)
			}
		}
	}
	return max(star, 0)
}

// parseQ reads the q parameter from "q=0.5" style parameters; a missing or malformed one counts as 1.
func parseQ(params string) int {
	for params != "" {
		i := 0
		for i < len(params) && params[i] != ';' {
			i++
		}
		p := trimOWS(params[:i])
		params = params[min(i+1, len(params)):]
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v := p[2:]
		if v == "" || (v[0] != '0' && v[0] != '1') {
			return 1000
		}
		if v[0] == '1' {
			return 1000
		}
		q, scale := 0, 100
		if len(v) > 1 && v[1] == '.' {
			for _, c := range v[2:] {
				if c < '0' || c > '9' || scale == 0 {
					break
				}
				q += int(c-'0') * scale
				scale /= 10
			}
		}
		return q
	}
	return 1000
}
