package awsconf

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// readINI parses an AWS shared file into section → key → value (keys lowercased, comments dropped).
func readINI(data []byte) map[string]map[string]string {
	out := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			name := strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			if out[name] == nil {
				out[name] = map[string]string{}
			}
			cur = out[name]
		case cur != nil:
			if k, v, ok := strings.Cut(line, "="); ok {
				cur[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// sharedFile returns the path in the environment variable, or ~/.aws/name.
func (r *resolver) sharedFile(envVar, name string) string {
	if p := r.env(envVar); p != "" {
		return p
	}
	home := r.env("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".aws", name)
}
