// Package fileutil holds the file helpers several commands share.
package fileutil

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Copy streams src to dst (mode 0644, parent directories made), replacing
// dst; a failure names both files. Kernels and images are copied this way,
// so nothing is read whole into memory.
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
