package tlsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The CA's file names in a directory (as `consul tls ca create` writes
// consul-agent-ca.pem and consul-agent-ca-key.pem).
const (
	CACertFile = "prism-ca.pem"
	CAKeyFile  = "prism-ca-key.pem"
)

// CAPaths are the CA's certificate and key files in dir.
func CAPaths(dir string) (cert, key string) {
	return filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
}

// LeafPaths are id's certificate and key files in dir:
// <kind>-<name>.pem and <kind>-<name>-key.pem.
func LeafPaths(dir string, id Identity) (cert, key string) {
	return filepath.Join(dir, id.FileStem()+".pem"), filepath.Join(dir, id.FileStem()+"-key.pem")
}

// WritePair writes a certificate (mode 0644) and its key (0600) and never
// replaces a file: when either exists it fails with ErrExists before
// writing anything. dir is created (0700) when missing.
func WritePair(certPath, keyPath string, p PEM) error {
	for _, f := range []string{certPath, keyPath} {
		if _, err := os.Lstat(f); err == nil {
			return fmt.Errorf("%w: %s (remove it first to replace it)", ErrExists, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, d := range []string{filepath.Dir(certPath), filepath.Dir(keyPath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := writeNew(keyPath, p.Key, 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, p.Cert, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

// writeNew creates path (failing if it exists) and writes b, synced.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s (remove it first to replace it)", ErrExists, path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// LoadCA reads the CA in dir (CACertFile and CAKeyFile).
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := CAPaths(dir)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w (create a CA with prismctl tls ca create)", ErrFiles, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFiles, err)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	return ca, nil
}
