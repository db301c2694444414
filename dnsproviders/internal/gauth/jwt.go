package gauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// serviceAccount builds a Source that signs a JWT grant with the key's private key.
func serviceAccount(k keyFile, scopes []string) (*Source, error) {
	if k.ClientEmail == "" {
		return nil, errors.New("the service account key has no client_email")
	}
	key, err := parseKey(k.PrivateKey)
	if err != nil {
		return nil, err
	}
	uri := k.TokenURI
	if uri == "" {
		uri = DefaultTokenURI
	}
	scope := strings.Join(scopes, " ")
	return &Source{Kind: k.Type, fetch: func(ctx context.Context, hc *http.Client) (string, time.Time, error) {
		assertion, err := signJWT(key, k.PrivateKeyID, map[string]any{
			"iss": k.ClientEmail, "scope": scope, "aud": uri,
			"iat": time.Now().Add(-10 * time.Second).Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		})
		if err != nil {
			return "", time.Time{}, err
		}
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
		return exchange(ctx, hc, uri, form)
	}}, nil
}

// parseKey reads an RSA private key in PEM (PKCS #8 or PKCS #1).
func parseKey(p string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("the service account key's private_key is not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, errors.New("the service account key's private_key is not an RSA key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("the service account key's private_key cannot be parsed")
}

// signJWT returns header.claims.signature with RS256.
func signJWT(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	hdr := map[string]string{"alg": "RS256", "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	h, _ := json.Marshal(hdr)
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", errors.New("signing the token request failed")
	}
	return signed + "." + enc.EncodeToString(sig), nil
}
