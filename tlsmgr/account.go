package tlsmgr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/caddyserver/certmagic"
)

// ensureAccount makes sure an ACME account can be used for pc before its first order. With no account
// in storage, it asks for an email address (and, without -agree, for agreement) when stdin is a terminal;
// it never prompts otherwise, so Casket never blocks under a service manager.
func (m *Manager) ensureAccount(ctx context.Context, pc *policyConfig) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.accountReady {
		return nil
	}
	if m.hasStoredAccount(ctx, pc.issuer) {
		pc.accountReady = true
		return nil
	}
	if !m.terminal {
		if !m.opts.Agreed {
			return errors.New("obtaining certificates needs agreement to the CA's subscriber agreement: run with -agree")
		}
		pc.accountReady = true
		return nil
	}
	if pc.email == "" || !m.opts.Agreed {
		email, err := m.prompt(pc.issuer.CA, pc.email == "", !m.opts.Agreed)
		if err != nil {
			return err
		}
		if pc.email == "" && email != "" {
			pc.email = email
			pc.issuer.Email = email // nothing has used the issuer for an order yet
		}
	}
	pc.accountReady = true
	return nil
}

// hasStoredAccount reports whether storage holds an ACME account for the issuer's CA.
func (m *Manager) hasStoredAccount(ctx context.Context, iss *certmagic.ACMEIssuer) bool {
	prefix := path.Join("acme", certmagic.StorageKeys.Safe(iss.IssuerKey()), "users")
	keys, err := m.storage.List(ctx, prefix, false)
	return err == nil && len(keys) > 0
}

// prompt asks on the terminal for an email address and/or agreement to the CA's terms.
func (m *Manager) prompt(ca string, askEmail, askAgree bool) (string, error) {
	in := bufio.NewReader(m.stdin)
	fmt.Fprintf(m.stderr, "\nYour sites will be served over HTTPS automatically, with certificates from\n  %s\n", ca)
	if askAgree {
		fmt.Fprint(m.stderr, "Do you agree to this CA's subscriber agreement? (y/n): ")
		answer, _ := in.ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return "", errors.New("the CA's subscriber agreement was not accepted")
		}
	}
	if !askEmail {
		return "", nil
	}
	fmt.Fprint(m.stderr, "Enter an email address to be told about problems with your certificates\n(optional, press Enter to skip): ")
	email, _ := in.ReadString('\n')
	return strings.TrimSpace(email), nil
}
