package tlsmgr

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// StoragePath returns the folder where Casket keeps certificates, keys, ACME accounts, OCSP staples and
// locks: $CASKETPATH if set, else .casket in the home folder ($HOME; on Windows %HOMEDRIVE%%HOMEPATH% or
// %USERPROFILE%), else .casket in the current folder.
func StoragePath() string {
	if p := os.Getenv("CASKETPATH"); p != "" {
		return p
	}
	if home := homeDir(); home != "" {
		return filepath.Join(home, ".casket")
	}
	return ".casket"
}

func homeDir() string {
	if home := os.Getenv("HOME"); home != "" {
		return home
	}
	if runtime.GOOS == "windows" {
		if d, p := os.Getenv("HOMEDRIVE"), os.Getenv("HOMEPATH"); d != "" && p != "" {
			return d + p
		}
		return os.Getenv("USERPROFILE")
	}
	return ""
}

// prepareStorage creates dir with mode 0700 if it is missing. certmagic's FileStorage then writes every
// file with mode 0600 (through a temporary file renamed into place) and creates sub-folders with 0700.
// An existing folder readable by others is tightened to 0700, since it holds private keys.
func prepareStorage(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating storage folder: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking storage folder: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restricting storage folder to its owner: %w", err)
		}
	}
	return nil
}
