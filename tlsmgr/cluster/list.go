package cluster

import "strings"

// ListKeys turns the stored keys below dir (each starting with dir + "/", or any key when dir is "") into
// List's answer, as certmagic's FileStorage gives it: the entries directly under dir (values and
// directories) or, when recursive, every value and directory below dir, each as a full key.
func ListKeys(dir string, keys []string, recursive bool) []string {
	base := dir
	if dir != "" {
		base = dir + "/"
	}
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, base)
		if !ok || rest == "" {
			continue
		}
		if !recursive {
			first, _, _ := strings.Cut(rest, "/")
			add(base + first)
			continue
		}
		for i := 0; i < len(rest); i++ {
			if rest[i] == '/' {
				add(base + rest[:i])
			}
		}
		add(k)
	}
	return out
}
