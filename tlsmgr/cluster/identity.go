package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// InstanceID returns this instance's identity, recorded as the holder of its locks. With file set
// (CASKET_UUID_FILE) the identity is read from that file, which is created with a new random id when
// missing, so each instance sharing a storage folder keeps its own identity across restarts; with file
// empty it is a new random id for this process.
func InstanceID(file string) (string, error) {
	if file == "" {
		return randomID(), nil
	}
	b, err := os.ReadFile(file)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
		return "", fmt.Errorf("instance id file %s is empty; delete it to get a new id", file)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading instance id: %w", err)
	}
	id := randomID()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", fmt.Errorf("creating instance id file: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return InstanceID(file) // another process created it first
	}
	if err != nil {
		return "", fmt.Errorf("creating instance id file: %w", err)
	}
	_, err = f.WriteString(id + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing instance id file: %w", err)
	}
	return id, nil
}
