package awsconf

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/casketserver/casket/dnsproviders/internal/awssig"
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

// profile reads static keys of the profile (AWS_PROFILE, else "default") from the shared credentials
// file, then from the config file ([profile NAME] sections).
func (r *resolver) profile(context.Context) (temporary, error) {
	name := r.creds.Profile
	if name == "" {
		name = "default"
	}
	try := []struct{ env, file, section string }{
		{"AWS_SHARED_CREDENTIALS_FILE", "credentials", name},
		{"AWS_CONFIG_FILE", "config", "profile " + name},
	}
	if name == "default" {
		try = append(try, struct{ env, file, section string }{"AWS_CONFIG_FILE", "config", "default"})
	}
	for _, t := range try {
		path := r.sharedFile(t.env, t.file)
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := readINI(data)[t.section]
		if s["aws_access_key_id"] != "" && s["aws_secret_access_key"] != "" {
			return temporary{Keys: awssig.Keys{AccessKeyID: s["aws_access_key_id"], SecretAccessKey: s["aws_secret_access_key"],
				SessionToken: s["aws_session_token"]}}, nil
		}
	}
	return temporary{}, errNotFound
}
