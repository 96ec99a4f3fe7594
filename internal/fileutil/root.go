package fileutil

import (
	"errors"
	"os"
	"path/filepath"
)

// RepoRoot finds the repository (the directory holding go.mod) from the
// working directory up: tests and test-time builders locate out/ and
// .cache/ with it.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
