package main

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"golang.org/x/crypto/ocsp"
)

// certInfo describes one certificate in storage (-certs).
type certInfo struct {
	Name      string    `json:"name"`       // the name the certificate is stored under
	Names     []string  `json:"names"`      // every name it is valid for
	Issuer    string    `json:"issuer"`     // the issuing CA's common name
	IssuerKey string    `json:"issuer_key"` // the storage folder of the ACME directory it came from
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	RenewAt   time.Time `json:"renew_at"` // start of certmagic's renewal window (the last third)
	Status    string    `json:"status"`   // valid, renewal due or expired (at the time of listing)
	OCSP      *ocspInfo `json:"ocsp,omitempty"`
	Lock      *lockInfo `json:"lock,omitempty"`
	Error     string    `json:"error,omitempty"` // why the certificate could not be read
}

// ocspInfo is the OCSP response stored for a certificate.
type ocspInfo struct {
	Status     string    `json:"status"` // good, revoked or unknown
	ProducedAt time.Time `json:"produced_at"`
	NextUpdate time.Time `json:"next_update"`
}

// lockInfo is the issuance lock held on a certificate's name: in file storage its times, in a storage
// implementing lockInspector the instance holding it.
type lockInfo struct {
	Holder  string    `json:"holder,omitempty"`
	Created time.Time `json:"created,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
}

// lockInspector is implemented by storages that record which instance holds a lock (the identity of
// CASKET_UUID_FILE): -certs shows it. ok is false when no lock is held on name.
type lockInspector interface {
	LockHolder(ctx context.Context, name string) (holder string, expires time.Time, ok bool, err error)
}

// renewalRatio is certmagic's default renewal window: a certificate is renewed once less than this share
// of its lifetime remains.
const renewalRatio = 1.0 / 3

// listCerts walks certmagic's layout, certificates/<issuer key>/<name>/<name>.crt, and describes every
// certificate, sorted by name then issuer; now decides the status column.
func listCerts(ctx context.Context, s certmagic.Storage, now time.Time) ([]certInfo, error) {
	issuers, err := listKeys(ctx, s, "certificates")
	if err != nil {
		return nil, err
	}
	staples := loadStaples(ctx, s)
	var out []certInfo
	for _, ik := range issuers {
		sites, err := listKeys(ctx, s, ik)
		if err != nil {
			return nil, err
		}
		for _, site := range sites {
			base := path.Base(site)
			crt := path.Join(site, base+".crt")
			if !s.Exists(ctx, crt) {
				continue
			}
			ci := certInfo{Name: unsafeName(base), IssuerKey: path.Base(ik)}
			if err := ci.fill(ctx, s, crt, now); err != nil {
				ci.Error = err.Error()
			}
			ci.OCSP = staples[certmagic.StorageKeys.Safe(ci.Name)]
			ci.Lock = readLock(ctx, s, ci.Name)
			out = append(out, ci)
		}
	}
	slices.SortFunc(out, func(a, b certInfo) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.IssuerKey, b.IssuerKey))
	})
	return out, nil
}

// listKeys lists the keys directly under prefix; a missing prefix is empty.
func listKeys(ctx context.Context, s certmagic.Storage, prefix string) ([]string, error) {
	keys, err := s.List(ctx, prefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s in storage: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// unsafeName turns a storage folder name back into the certificate name (wildcards).
func unsafeName(base string) string {
	if rest, ok := strings.CutPrefix(base, "wildcard_"); ok {
		return "*" + rest
	}
	return base
}

// fill reads the leaf certificate at key.
func (ci *certInfo) fill(ctx context.Context, s certmagic.Storage, key string, now time.Time) error {
	b, err := s.Load(ctx, key)
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return fmt.Errorf("%s: no PEM certificate", key)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	ci.Names = append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		ci.Names = append(ci.Names, ip.String())
	}
	ci.Issuer = leaf.Issuer.CommonName
	if ci.Issuer == "" {
		ci.Issuer = leaf.Issuer.String()
	}
	ci.NotBefore, ci.NotAfter = leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	ci.RenewAt = ci.NotAfter.Add(-time.Duration(float64(life) * renewalRatio)).Truncate(time.Second)
	switch {
	case !now.Before(ci.NotAfter):
		ci.Status = "expired"
	case !now.Before(ci.RenewAt):
		ci.Status = "renewal due"
	default:
		ci.Status = "valid"
	}
	return nil
}

// loadStaples reads the OCSP responses in storage (ocsp/<safe first name>-<hash>), keeping the newest
// per name. Unreadable staples are skipped: they are a cache.
func loadStaples(ctx context.Context, s certmagic.Storage) map[string]*ocspInfo {
	keys, _ := listKeys(ctx, s, "ocsp")
	out := make(map[string]*ocspInfo)
	for _, k := range keys {
		base := path.Base(k)
		i := strings.LastIndexByte(base, '-')
		if i <= 0 {
			continue
		}
		b, err := s.Load(ctx, k)
		if err != nil {
			continue
		}
		resp, err := ocsp.ParseResponse(b, nil)
		if err != nil {
			continue
		}
		name := base[:i]
		if old := out[name]; old != nil && !resp.ProducedAt.After(old.ProducedAt) {
			continue
		}
		out[name] = &ocspInfo{Status: ocspStatusName(resp.Status), ProducedAt: resp.ProducedAt.UTC(), NextUpdate: resp.NextUpdate.UTC()}
	}
	return out
}

func ocspStatusName(s int) string {
	switch s {
	case ocsp.Good:
		return "good"
	case ocsp.Revoked:
		return "revoked"
	default:
		return "unknown"
	}
}

// readLock reads certmagic's issuance lock for name: through lockInspector when the storage has it, else
// as file storage keeps it (locks/issue_cert_<name>.lock, JSON with created and updated times).
func readLock(ctx context.Context, s certmagic.Storage, name string) *lockInfo {
	if li, ok := s.(lockInspector); ok {
		holder, expires, held, err := li.LockHolder(ctx, "issue_cert_"+name)
		if err != nil || !held {
			return nil
		}
		return &lockInfo{Holder: holder, Expires: expires.UTC()}
	}
	b, err := s.Load(ctx, path.Join("locks", certmagic.StorageKeys.Safe("issue_cert_"+name)+".lock"))
	if err != nil {
		return nil
	}
	var li lockInfo
	if err := json.Unmarshal(b, &li); err != nil {
		return &lockInfo{}
	}
	li.Created, li.Updated = li.Created.UTC(), li.Updated.UTC()
	return &li
}

// printCerts writes infos as a table, or as JSON.
func printCerts(w io.Writer, infos []certInfo, asJSON bool) error {
	if asJSON {
		if infos == nil {
			infos = []certInfo{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	if len(infos) == 0 {
		_, err := fmt.Fprintln(w, "No certificates in storage.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tOTHER NAMES\tISSUER\tCA\tEXPIRES\tRENEWAL FROM\tSTATUS\tOCSP\tLOCK")
	const day = "2006-01-02 15:04"
	var problems []string
	for _, ci := range infos {
		if ci.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t-\t-\tunreadable\t-\t%s\n", ci.Name, ci.IssuerKey, lockColumn(ci.Lock, day))
			problems = append(problems, ci.Name+": "+ci.Error)
			continue
		}
		var others []string
		for _, n := range ci.Names {
			if n != ci.Name {
				others = append(others, n)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ci.Name, orDash(strings.Join(others, ",")), ci.Issuer,
			ci.IssuerKey, ci.NotAfter.Format(day), ci.RenewAt.Format(day), ci.Status, ocspColumn(ci.OCSP),
			lockColumn(ci.Lock, day))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range problems {
		if _, err := fmt.Fprintln(w, p); err != nil {
			return err
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ocspColumn(o *ocspInfo) string {
	if o == nil {
		return "-"
	}
	return fmt.Sprintf("%s (next update %s)", o.Status, o.NextUpdate.Format("2006-01-02"))
}

func lockColumn(l *lockInfo, layout string) string {
	if l == nil {
		return "-"
	}
	switch {
	case l.Holder != "":
		return "held by " + l.Holder
	case l.Updated.IsZero():
		return "locked"
	}
	return "locked, refreshed " + l.Updated.Format(layout)
}

// runCerts lists the certificates in storage (-certs).
func runCerts(c *config, store *certStorage, logger *zap.Logger, stdout, stderr io.Writer, now time.Time) int {
	s, err := store.get(logger)
	if err != nil {
		fmt.Fprintf(stderr, "casket: -certs: %v\n", err)
		return exitStartup
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	infos, err := listCerts(ctx, s, now)
	if err != nil {
		fmt.Fprintf(stderr, "casket: -certs: %v\n", err)
		return exitStartup
	}
	if err := printCerts(stdout, infos, c.JSON); err != nil {
		fmt.Fprintf(stderr, "casket: -certs: %v\n", err)
		return exitStartup
	}
	return exitOK
}
