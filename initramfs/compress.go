package initramfs

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Codecs are the compressions the reference kernel unpacks
// (CONFIG_RD_ZSTD, CONFIG_RD_XZ, CONFIG_RD_GZIP), plus none.
var Codecs = []string{"zstd", "xz", "gzip", "none"}

// Ext is the file name extension of a codec's output.
func Ext(codec string) string {
	switch codec {
	case "zstd":
		return ".cpio.zst"
	case "xz":
		return ".cpio.xz"
	case "gzip":
		return ".cpio.gz"
	}
	return ".cpio"
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Compress wraps w in the named codec. Every encoder is configured for
// reproducible output: one zstd encoder goroutine, a zero gzip header time.
func Compress(w io.Writer, codec string) (io.WriteCloser, error) {
	switch codec {
	case "zstd":
		// The kernel's zstd decompressor (lib/decompress_unzstd.c) takes any
		// window size when it is handed the whole buffer, as for initramfs.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithEncoderConcurrency(1))
	case "xz":
		// The kernel's xz decoder (lib/xz) only knows the CRC32 and none
		// checks; xz(1)'s default CRC64 makes it refuse the image.
		return xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 8 << 20}.NewWriter(w)
	case "gzip":
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	case "none", "":
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want one of zstd, xz, gzip, none)", codec)
}
