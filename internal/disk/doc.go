// Package disk prepares an install disk: it releases and wipes it (both GPT
// copies, the MBR, filesystem, md and LVM signatures), partitions it with
// go-diskfs (GPT or MBR, 1 MiB aligned, deterministic PARTUUIDs), asks the
// kernel to re-read the table and checks the result in sysfs, and creates
// the small filesystems an install needs (FAT32 ESP, swap, ext4 for
// write-once content). Everything works on an io.WriterAt or go-diskfs
// backend, so tests run on image files without root; the ioctls are leaves
// behind func fields in _linux.go files.
package disk
