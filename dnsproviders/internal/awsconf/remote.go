package awsconf

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/casketserver/casket/dnsproviders/internal/awssig"
)

// roleKeys is the JSON the container and instance metadata endpoints return.
type roleKeys struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

func (k roleKeys) temporary() (temporary, error) {
	if k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return temporary{}, errors.New("the reply holds no keys")
	}
	t := temporary{Keys: awssig.Keys{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.Token}}
	if k.Expiration != "" {
		t.Expires, _ = time.Parse(time.RFC3339, k.Expiration)
	}
	return t, nil
}

// get sends req and returns the body of a 2xx reply.
func get(hc *http.Client, req *http.Request) ([]byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return data, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return data, nil
}

// container reads the role of an ECS task or EKS pod identity (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
// _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN or its _FILE).
func (r *resolver) container(ctx context.Context) (temporary, error) {
	u := r.env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	if rel := r.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		host := r.containerHost
		if host == "" {
			host = "http://169.254.170.2"
		}
		u = host + rel
	}
	if u == "" {
		return temporary{}, errNotFound
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return temporary{}, fmt.Errorf("container credentials: bad endpoint URL")
	}
	tok := r.env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	if f := r.env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return temporary{}, fmt.Errorf("container credentials: reading the authorization token file: %w", errors.Unwrap(err))
		}
		tok = strings.TrimSpace(string(data))
	}
	if tok != "" {
		req.Header.Set("Authorization", tok)
	}
	data, err := get(r.client(), req)
	if err != nil {
		return temporary{}, fmt.Errorf("container credentials: %w", err)
	}
	var k roleKeys
	if err := json.Unmarshal(data, &k); err != nil {
		return temporary{}, errors.New("container credentials: the reply is not JSON")
	}
	t, err := k.temporary()
	if err != nil {
		return temporary{}, fmt.Errorf("container credentials: %w", err)
	}
	return t, nil
}

// instance reads the EC2 instance role with IMDSv2 (skipped when AWS_EC2_METADATA_DISABLED=true); an
// unreachable metadata service means there is no instance role.
func (r *resolver) instance(ctx context.Context) (temporary, error) {
	if strings.EqualFold(r.env("AWS_EC2_METADATA_DISABLED"), "true") {
		return temporary{}, errNotFound
	}
	base := r.imdsURL
	if base == "" {
		base = "http://169.254.169.254"
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	if r.http != nil {
		hc = r.http
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/latest/api/token", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
	token, err := get(hc, req)
	if err != nil {
		return temporary{}, errNotFound
	}
	path := base + "/latest/meta-data/iam/security-credentials/"
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token", string(token))
	role, err := get(hc, req)
	if err != nil || len(strings.TrimSpace(string(role))) == 0 {
		return temporary{}, errNotFound // an instance without a role
	}
	name := strings.TrimSpace(strings.SplitN(string(role), "\n", 2)[0])
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, path+url.PathEscape(name), nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token", string(token))
	data, err := get(hc, req)
	if err != nil {
		return temporary{}, fmt.Errorf("instance role %s: %w", name, err)
	}
	var k roleKeys
	if err := json.Unmarshal(data, &k); err != nil {
		return temporary{}, fmt.Errorf("instance role %s: the reply is not JSON", name)
	}
	t, err := k.temporary()
	if err != nil {
		return temporary{}, fmt.Errorf("instance role %s: %w", name, err)
	}
	return t, nil
}

// webIdentity exchanges the token in AWS_WEB_IDENTITY_TOKEN_FILE for the role AWS_ROLE_ARN with STS
// AssumeRoleWithWebIdentity (EKS service accounts), at the regional STS endpoint.
func (r *resolver) webIdentity(ctx context.Context) (temporary, error) {
	file, role := r.env("AWS_WEB_IDENTITY_TOKEN_FILE"), r.env("AWS_ROLE_ARN")
	if file == "" || role == "" {
		return temporary{}, errNotFound
	}
	token, err := os.ReadFile(file)
	if err != nil {
		return temporary{}, fmt.Errorf("web identity: reading the token file: %w", errors.Unwrap(err))
	}
	session := r.env("AWS_ROLE_SESSION_NAME")
	if session == "" {
		session = fmt.Sprintf("casket-%d", time.Now().UnixNano())
	}
	endpoint := r.env("AWS_ENDPOINT_URL_STS")
	if endpoint == "" {
		region := r.creds.Region
		if region == "" {
			region = "us-east-1"
		}
		endpoint = "https://sts." + region + ".amazonaws.com"
	}
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {role},
		"RoleSessionName": {session}, "WebIdentityToken": {strings.TrimSpace(string(token))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return temporary{}, errors.New("web identity: bad STS endpoint URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	data, err := get(r.client(), req)
	if err != nil {
		code, msg := xmlError(data)
		return temporary{}, fmt.Errorf("web identity: AssumeRoleWithWebIdentity: %w: %s: %s", err, code, msg)
	}
	var out struct {
		Creds struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
	}
	if err := xml.Unmarshal(data, &out); err != nil {
		return temporary{}, errors.New("web identity: the STS reply is not XML")
	}
	return roleKeys{AccessKeyID: out.Creds.AccessKeyID, SecretAccessKey: out.Creds.SecretAccessKey,
		Token: out.Creds.SessionToken, Expiration: out.Creds.Expiration}.temporary()
}
