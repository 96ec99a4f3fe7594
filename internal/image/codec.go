package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Magic numbers: zstd RFC 8878 §3.1.1, xz file format 1.0.4 §2.1.1.1,
// gzip RFC 1952 §2.3.1.
var (
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicGzip = []byte{0x1f, 0x8b}
)

// Detect names the compression of a stream from its first bytes: "zstd",
// "xz", "gzip" or "none".
func Detect(head []byte) string {
	switch {
	case bytes.HasPrefix(head, magicZstd):
		return "zstd"
	case bytes.HasPrefix(head, magicXz):
		return "xz"
	case bytes.HasPrefix(head, magicGzip):
		return "gzip"
	}
	return "none"
}

// decoder wraps r in the decompressor its magic asks for.
func decoder(r io.Reader) (io.ReadCloser, string, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(len(magicXz))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", fmt.Errorf("read magic: %w", err)
	}
	codec := Detect(head)
	switch codec {
	case "zstd":
		// The decoder's window is capped by the frame (zstd -19 uses 8 MiB,
		// --long 128 MiB); WithDecoderMaxWindow keeps a hostile frame from
		// asking for more. Concurrency 2: one frame decoding while the next
		// block is read, no more on a 2-core server ramdisk.
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(256<<20))
		if err != nil {
			return nil, codec, fmt.Errorf("zstd: %w", err)
		}
		return d.IOReadCloser(), codec, nil
	case "xz":
		if head, _ := br.Peek(12 + 1024); runtime.GOMAXPROCS(0) >= 2 && xzParallelOK(head) {
			return newXzParallel(br, min(runtime.GOMAXPROCS(0), 4)), codec, nil
		}
		d, err := xz.NewReader(br)
		if err != nil {
			return nil, codec, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(d), codec, nil
	case "gzip":
		d, err := gzip.NewReader(br)
		if err != nil {
			return nil, codec, fmt.Errorf("gzip: %w", err)
		}
		return d, codec, nil
	}
	return io.NopCloser(br), codec, nil
}
