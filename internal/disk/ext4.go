package disk

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"github.com/google/uuid"
)

// Ext4Options describe a small ext4 volume.
type Ext4Options struct {
	Label string
	UUID  uuid.UUID // zero: random
}

// MakeExt4 creates an ext4 filesystem of size bytes at byte offset start of
// b with go-diskfs and copies content into it. It is meant for small,
// write-once volumes (a /boot, a config partition): go-diskfs' mkfs writes
// every inode table, which is slow on large disks, and v1.9.4 mishandles
// Remove and O_TRUNC, so nothing here rewrites a file. Root filesystems
// arrive as images (package image).
func MakeExt4(b backend.Storage, start, size int64, content fs.FS, opts Ext4Options) error {
	p := &ext4.Params{VolumeName: opts.Label}
	if opts.UUID != uuid.Nil {
		u := opts.UUID
		p.UUID = &u
	}
	vol, err := ext4.Create(b, size, start, 512, p)
	if err != nil {
		return fmt.Errorf("ext4 at offset %d (%d bytes): %w", start, size, err)
	}
	if content == nil {
		return nil
	}
	return fs.WalkDir(content, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("ext4 content %s: %w", p, err)
		}
		if p == "." {
			return nil
		}
		abs := p // go-diskfs v1.9.4 ext4 takes io/fs paths, without a leading /
		switch {
		case d.IsDir():
			if err := vol.Mkdir(abs); err != nil {
				return fmt.Errorf("ext4 mkdir %s: %w", abs, err)
			}
			return nil
		case d.Type().IsRegular():
			return ext4Copy(vol, content, p, abs)
		default:
			return fmt.Errorf("ext4 content %s: %s is neither a file nor a directory", p, d.Type())
		}
	})
}

func ext4Copy(vol *ext4.FileSystem, content fs.FS, src, dst string) error {
	in, err := content.Open(src)
	if err != nil {
		return fmt.Errorf("ext4 content %s: %w", src, err)
	}
	defer in.Close()
	out, err := vol.OpenFile(dst, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("ext4 create %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("ext4 write %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("ext4 close %s: %w", dst, err)
	}
	return nil
}
