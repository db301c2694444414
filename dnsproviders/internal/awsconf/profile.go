package awsconf

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/casketserver/casket/dnsproviders/internal/awssig"
)

// profileSettings merges a profile's settings: the config file's [profile NAME] (or [default]), then the
// credentials file's [NAME], which wins.
func (r *resolver) profileSettings(name string) map[string]string {
	out := map[string]string{}
	section := "profile " + name
	if name == "default" {
		section = "default"
	}
	for _, f := range []struct{ env, file, section string }{
		{"AWS_CONFIG_FILE", "config", section},
		{"AWS_SHARED_CREDENTIALS_FILE", "credentials", name},
	} {
		path := r.sharedFile(f.env, f.file)
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		sections := readINI(data)
		s, ok := sections[f.section]
		if !ok && f.file == "config" && name == "default" {
			s, ok = sections["profile default"]
		}
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// profile resolves the profile (AWS_PROFILE, else "default") from the shared files: static keys,
// credential_process, or role_arn assumed with source_profile or credential_source.
func (r *resolver) profile(ctx context.Context) (temporary, error) {
	name := r.creds.Profile
	if name == "" {
		name = "default"
	}
	return r.namedProfile(ctx, name, 0)
}

func (r *resolver) namedProfile(ctx context.Context, name string, depth int) (temporary, error) {
	if depth > 4 {
		return temporary{}, fmt.Errorf("profile %q: source_profile chain too long or circular", name)
	}
	s := r.profileSettings(name)
	switch {
	case s["aws_access_key_id"] != "" && s["aws_secret_access_key"] != "" && (depth > 0 || s["role_arn"] == ""):
		return temporary{Keys: awssig.Keys{AccessKeyID: s["aws_access_key_id"], SecretAccessKey: s["aws_secret_access_key"],
			SessionToken: s["aws_session_token"]}}, nil
	case s["role_arn"] != "":
		var src temporary
		var err error
		switch cs := s["credential_source"]; {
		case s["source_profile"] != "":
			src, err = r.namedProfile(ctx, s["source_profile"], depth+1)
		case cs == "Ec2InstanceMetadata":
			src, err = r.instance(ctx)
		case cs == "EcsContainer":
			src, err = r.container(ctx)
		case cs == "Environment":
			src = temporary{Keys: awssig.Keys{AccessKeyID: r.env("AWS_ACCESS_KEY_ID"), SecretAccessKey: r.env("AWS_SECRET_ACCESS_KEY"),
				SessionToken: r.env("AWS_SESSION_TOKEN")}}
		default:
			return temporary{}, fmt.Errorf("profile %q: role_arn needs source_profile or credential_source", name)
		}
		if errors.Is(err, errNotFound) || (err == nil && src.AccessKeyID == "") {
			return temporary{}, fmt.Errorf("profile %q: no source credentials for role_arn", name)
		}
		if err != nil {
			return temporary{}, err
		}
		return r.assumeRole(ctx, name, s, src.Keys)
	case s["credential_process"] != "":
		return r.process(ctx, name, s["credential_process"])
	case s["sso_session"] != "" || s["sso_start_url"] != "":
		return temporary{}, fmt.Errorf("profile %q: SSO profiles are not supported (export keys with `aws configure export-credentials` or use another profile)", name)
	case s["web_identity_token_file"] != "" && s["role_arn"] != "":
		return temporary{}, fmt.Errorf("profile %q: web_identity_token_file: set AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN instead", name)
	}
	if depth > 0 {
		return temporary{}, fmt.Errorf("source profile %q not found or without credentials", name)
	}
	return temporary{}, errNotFound
}

// process runs credential_process and reads its JSON (Version 1).
func (r *resolver) process(ctx context.Context, name, command string) (temporary, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd.exe", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", command)
	}
	out, err := cmd.Output()
	if err != nil {
		return temporary{}, fmt.Errorf("profile %q: credential_process failed: %w", name, err)
	}
	var k struct {
		Version int
		roleKeys
		SessionToken string
	}
	if err := json.Unmarshal(out, &k); err != nil || k.Version != 1 {
		return temporary{}, fmt.Errorf("profile %q: credential_process did not print JSON with \"Version\": 1", name)
	}
	if k.Token == "" {
		k.Token = k.SessionToken
	}
	t, err := k.roleKeys.temporary()
	if err != nil {
		return temporary{}, fmt.Errorf("profile %q: credential_process: %w", name, err)
	}
	return t, nil
}

// assumeRole calls STS AssumeRole with the source keys (signed, service "sts").
func (r *resolver) assumeRole(ctx context.Context, name string, s map[string]string, src awssig.Keys) (temporary, error) {
	session := s["role_session_name"]
	if session == "" {
		session = fmt.Sprintf("casket-%d", time.Now().UnixNano())
	}
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {s["role_arn"]}, "RoleSessionName": {session}}
	if v := s["external_id"]; v != "" {
		form.Set("ExternalId", v)
	}
	if v := s["duration_seconds"]; v != "" {
		form.Set("DurationSeconds", v)
	}
	if s["mfa_serial"] != "" {
		return temporary{}, fmt.Errorf("profile %q: roles that need MFA are not supported", name)
	}
	regional := s["sts_regional_endpoints"] == "regional"
	endpoint := r.env("AWS_ENDPOINT_URL_STS")
	signRegion := "us-east-1"
	if endpoint == "" {
		endpoint = "https://sts.amazonaws.com"
		if regional && r.creds.Region != "" {
			endpoint, signRegion = "https://sts."+r.creds.Region+".amazonaws.com", r.creds.Region
		}
	}
	c := &Client{Provider: "sts", Service: "sts", Region: signRegion, Endpoint: strings.TrimSuffix(endpoint, "/"),
		Creds: Credentials{AccessKeyID: src.AccessKeyID, SecretAccessKey: src.SecretAccessKey, SessionToken: src.SessionToken}, HTTP: r.http}
	data, err := c.Do(ctx, "AssumeRole", http.MethodPost, "/", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
	if err != nil {
		return temporary{}, fmt.Errorf("profile %q: %w", name, err)
	}
	var out struct {
		Creds struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"AssumeRoleResult>Credentials"`
	}
	if err := xml.Unmarshal(data, &out); err != nil {
		return temporary{}, fmt.Errorf("profile %q: the STS reply is not XML", name)
	}
	return roleKeys{AccessKeyID: out.Creds.AccessKeyID, SecretAccessKey: out.Creds.SecretAccessKey,
		Token: out.Creds.SessionToken, Expiration: out.Creds.Expiration}.temporary()
}
