package tlsmgr

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// loadedCert is a certificate Casket did not obtain itself: a `tls cert key` pair, a bundle found by
// `load`, or a `self_signed` certificate. The watcher re-reads files that change and renews self-signed
// certificates before they expire.
type loadedCert struct {
	certFile, keyFile string    // keyFile == certFile for a bundle; both empty for self-signed
	names             []string  // self-signed only
	stamp             string    // size and mtime of the files when last read
	notAfter          time.Time // self-signed only
	hash              string    // the certmagic cache key of what is served now
}

// LoadPair serves the certificate in certFile with the key in keyFile (`tls cert key`). The files are
// re-read when they change, so a renewal done by another tool (certbot) is picked up without a reload.
func (m *Manager) LoadPair(certFile, keyFile string) error {
	return m.addLoaded(&loadedCert{certFile: certFile, keyFile: keyFile})
}

// LoadDir serves every *.pem bundle in dir and its sub-folders (`tls { load dir }`): each bundle holds a
// certificate chain and its private key. Bundles are re-read when they change.
func (m *Manager) LoadDir(dir string) error {
	var found int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".pem") {
			return nil
		}
		found++
		return m.addLoaded(&loadedCert{certFile: p, keyFile: p})
	})
	if err != nil {
		return fmt.Errorf("loading certificates from %s: %w", dir, err)
	}
	if found == 0 {
		m.log.Warn("no .pem bundles found", zap.String("folder", dir))
	}
	return nil
}

// SelfSigned serves an in-memory self-signed certificate for names (`tls self_signed`), valid for 7 days
// and replaced before it expires. No name stands for localhost; localhost also covers 127.0.0.1 and ::1,
// so clients that send no server name for an IP address get the certificate too.
func (m *Manager) SelfSigned(names []string) error {
	names = normalizeNames(names)
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	if slices.Contains(names, "localhost") {
		names = normalizeNames(append(names, "127.0.0.1", "::1"))
	}
	return m.addLoaded(&loadedCert{names: names})
}

func (lc *loadedCert) key() string {
	if lc.certFile != "" {
		return "file\x00" + lc.certFile + "\x00" + lc.keyFile
	}
	return "self\x00" + strings.Join(lc.names, ",")
}

// addLoaded loads lc into the cache unless the same certificate source is already loaded.
func (m *Manager) addLoaded(lc *loadedCert) error {
	m.mu.Lock()
	_, dup := m.manual[lc.key()]
	m.mu.Unlock()
	if dup {
		return nil
	}
	m.refreshMu.Lock()
	err := m.refresh(lc)
	m.refreshMu.Unlock()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.manual[lc.key()] = lc
	m.mu.Unlock()
	return nil
}

// refresh (re)loads lc and swaps it into the cache; on error the previous certificate stays. The caller
// holds m.refreshMu.
func (m *Manager) refresh(lc *loadedCert) error {
	var (
		tlsCert tls.Certificate
		err     error
		stamp   string
	)
	if lc.certFile == "" {
		var certPEM, keyPEM []byte
		if certPEM, keyPEM, err = selfSignedPEM(lc.names, 0); err == nil {
			tlsCert, err = tls.X509KeyPair(certPEM, keyPEM)
		}
	} else {
		stamp = fileStamp(lc.certFile, lc.keyFile)
		tlsCert, err = readPair(lc.certFile, lc.keyFile)
	}
	if err != nil {
		return fmt.Errorf("loading certificate %s: %w", lc.describe(), err)
	}
	hash, err := m.base.cfg.CacheUnmanagedTLSCertificate(m.ctx, tlsCert, []string{"casket_loaded"})
	if err != nil {
		return fmt.Errorf("caching certificate %s: %w", lc.describe(), err)
	}
	if lc.hash != "" && lc.hash != hash {
		m.cache.Remove([]string{lc.hash})
	}
	lc.hash, lc.stamp = hash, stamp
	if tlsCert.Leaf != nil {
		lc.notAfter = tlsCert.Leaf.NotAfter
	}
	return nil
}

func (lc *loadedCert) describe() string {
	switch {
	case lc.certFile == "":
		return "self-signed for " + strings.Join(lc.names, ", ")
	case lc.certFile == lc.keyFile:
		return lc.certFile
	}
	return lc.certFile + " (key " + lc.keyFile + ")"
}

// watch re-reads changed certificate files and renews self-signed certificates until Close.
func (m *Manager) watch() {
	defer m.wg.Done()
	t := time.NewTicker(m.watchInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		list := make([]*loadedCert, 0, len(m.manual))
		for _, lc := range m.manual {
			list = append(list, lc)
		}
		m.mu.Unlock()
		m.refreshMu.Lock()
		for _, lc := range list {
			changed := false
			if lc.certFile == "" {
				changed = time.Until(lc.notAfter) < selfSignedValidity/3
			} else {
				changed = fileStamp(lc.certFile, lc.keyFile) != lc.stamp
			}
			if !changed {
				continue
			}
			if err := m.refresh(lc); err != nil {
				m.log.Error("reloading certificate; still serving the previous one", zap.Error(err))
				continue
			}
			m.log.Info("reloaded certificate", zap.String("source", lc.describe()))
		}
		m.refreshMu.Unlock()
	}
}

// fileStamp summarises the size and modification time of files.
func fileStamp(files ...string) string {
	var b strings.Builder
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			b.WriteString("missing;")
			continue
		}
		fmt.Fprintf(&b, "%d@%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// readPair loads a certificate and key from two files, or from one bundle when the names are equal.
func readPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile != keyFile {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	data, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	var certs, key bytes.Buffer
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE":
			_ = pem.Encode(&certs, block)
		case strings.HasSuffix(block.Type, "PRIVATE KEY") && key.Len() == 0:
			_ = pem.Encode(&key, block)
		}
	}
	if certs.Len() == 0 || key.Len() == 0 {
		return tls.Certificate{}, errors.New("bundle needs a CERTIFICATE and a PRIVATE KEY block")
	}
	return tls.X509KeyPair(certs.Bytes(), key.Bytes())
}
