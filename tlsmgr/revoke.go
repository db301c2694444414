package tlsmgr

import (
	"context"
	"fmt"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"
)

// Revoke revokes the managed certificate for name with its CA and deletes its files from storage
// (`casket -revoke NAME`). It refuses names with no certificate managed in storage, looking under the
// CA of every policy this Manager knows (the -ca default, plus the policies passed to Manage).
func (m *Manager) Revoke(ctx context.Context, name string) error {
	names := normalizeNames([]string{name})
	if len(names) == 0 {
		return fmt.Errorf("revoking certificate: empty name")
	}
	name = names[0]
	var found *policyConfig
	m.mu.Lock()
	candidates := []*policyConfig{m.names[name]} // the policy that manages name, if any, comes first
	m.mu.Unlock()
	for _, pc := range append(candidates, m.allConfigs()...) {
		if pc == nil {
			continue
		}
		if m.storage.Exists(ctx, certmagic.StorageKeys.SiteCert(pc.issuer.IssuerKey(), name)) {
			found = pc
			break
		}
	}
	if found == nil {
		return fmt.Errorf("revoking certificate: %q is not a managed certificate (none in %s for CA %s)", name, m.opts.StorageDir, m.opts.CA)
	}
	if m.opts.CATimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.CATimeout)
		defer cancel()
	}
	// PreCheck picks the account email (the configured one, else the most recent account in storage), as
	// before an order; without it a fresh process would revoke with a new, unrelated account. Its error
	// only concerns issuing for name, not revoking, so it is ignored.
	_ = found.issuer.PreCheck(ctx, []string{name}, false)
	if err := found.cfg.RevokeCert(ctx, name, acme.ReasonUnspecified, false); err != nil {
		return fmt.Errorf("revoking certificate for %q: %w", name, err)
	}
	m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: name, IssuerKey: found.issuer.IssuerKey()}})
	m.log.Info("certificate revoked and deleted from storage", zap.String("name", name))
	return nil
}
