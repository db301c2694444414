package gauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Env reads one environment variable; Default treats nil as os.Getenv.
type Env func(string) string

// Default finds Application Default Credentials: the file named by GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// application_default_credentials.json, or else the metadata server (on GCE, GKE, Cloud Run).
func Default(getenv Env, scopes ...string) (*Source, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if path := getenv("GOOGLE_APPLICATION_CREDENTIALS"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading GOOGLE_APPLICATION_CREDENTIALS: %w", errors.Unwrap(err))
		}
		s, err := FromJSON(data, scopes...)
		if err != nil {
			return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		return s, nil
	}
	if path := wellKnownFile(getenv); path != "" {
		if data, err := os.ReadFile(path); err == nil {
			s, err := FromJSON(data, scopes...)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return s, nil
		}
	}
	host := getenv("GCE_METADATA_HOST")
	if host == "" {
		host = "metadata.google.internal"
	}
	return Metadata("http://"+host, scopes...), nil
}

// wellKnownFile is gcloud's application default credentials file.
func wellKnownFile(getenv Env) string {
	if dir := getenv("CLOUDSDK_CONFIG"); dir != "" {
		return filepath.Join(dir, "application_default_credentials.json")
	}
	if runtime.GOOS == "windows" {
		if d := getenv("APPDATA"); d != "" {
			return filepath.Join(d, "gcloud", "application_default_credentials.json")
		}
		return ""
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
}

// Metadata builds a Source asking the metadata server at base (e.g. http://metadata.google.internal) for
// the default service account's token.
func Metadata(base string, scopes ...string) *Source {
	u := strings.TrimSuffix(base, "/") + "/computeMetadata/v1/instance/service-accounts/default/token"
	if len(scopes) > 0 {
		u += "?" + url.Values{"scopes": {strings.Join(scopes, ",")}}.Encode()
	}
	return &Source{Kind: "metadata", fetch: func(ctx context.Context, hc *http.Client) (string, time.Time, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", time.Time{}, errors.New("getting an access token: bad metadata server address")
		}
		req.Header.Set("Metadata-Flavor", "Google")
		tok, exp, err := send(hc, req)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("no Google credentials (set GCE_SERVICE_ACCOUNT_FILE or GOOGLE_APPLICATION_CREDENTIALS, or run on Google Cloud): metadata server: %w", err)
		}
		return tok, exp, nil
	}}
}
