package image

import (
	"bufio"
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// hostXz compresses data with the host's xz in multi-block mode, as
// `xz -T0` does for large inputs.
func hostXz(t *testing.T, data []byte, args ...string) []byte {
	t.Helper()
	bin := needTool(t, "xz")
	cmd := exec.Command(bin, append([]string{"-z", "-c", "-T2", "-1", "--block-size=1MiB"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v", args, err)
	}
	return out
}

func TestXzParallel(t *testing.T) {
	img := makeDiskImage(t, 12<<20)
	for _, tc := range []struct {
		name    string
		payload func() []byte
	}{
		{"crc64", func() []byte { return hostXz(t, img) }},
		{"crc32", func() []byte { return hostXz(t, img, "--check=crc32") }},
		{"sha256", func() []byte { return hostXz(t, img, "--check=sha256") }},
		{"none", func() []byte { return hostXz(t, img, "--check=none") }},
		{"two streams with padding", func() []byte {
			a, b := hostXz(t, img[:5<<20]), hostXz(t, img[5<<20:])
			return append(append(a, 0, 0, 0, 0, 0, 0, 0, 0), b...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := tc.payload()
			if !xzParallelOK(payload[:min(len(payload), 12+1024)]) {
				t.Fatal("host xz output not recognised as parallel-decodable")
			}
			// The parallel decoder itself, with two workers whatever
			// GOMAXPROCS is (Write picks it only with 2 or more).
			x := newXzParallel(bufio.NewReader(bytes.NewReader(payload)), 2)
			got, err := io.ReadAll(x)
			x.Close()
			if err != nil || !bytes.Equal(got, img) {
				t.Fatalf("parallel xz decode: %v, content equal %v", err, bytes.Equal(got, img))
			}
			dst := newTarget(t, 12<<20)
			res, err := Write(context.Background(), dst, Source{Path: writeTemp(t, payload), Hash: sha256Of(payload)}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Codec != "xz" || !bytes.Equal(readAll(t, dst), img) {
				t.Errorf("parallel xz: codec %s, content equal %v", res.Codec, bytes.Equal(readAll(t, dst), img))
			}
		})
	}
}

func TestXzParallelCorrupt(t *testing.T) {
	img := makeDiskImage(t, 8<<20)
	payload := hostXz(t, img)
	// Flip a byte inside the second block's data: LZMA2 or the CRC64
	// must catch it (the artifact hash would too, but later).
	bad := bytes.Clone(payload)
	h, err := parseXzBlockHeader(bad[12:])
	if err != nil {
		t.Fatal(err)
	}
	second := 12 + int64(h.size) + (h.compressed+3)/4*4 + 8
	bad[second+40] ^= 0x55
	x := newXzParallel(bufio.NewReader(bytes.NewReader(bad)), 2)
	defer x.Close()
	_, err = io.Copy(io.Discard, x)
	if err == nil || !strings.Contains(err.Error(), "xz:") {
		t.Fatalf("decoding a corrupted block = %v, want an xz error", err)
	}
	// A truncated file fails too.
	x = newXzParallel(bufio.NewReader(bytes.NewReader(payload[:len(payload)-20])), 2)
	defer x.Close()
	if _, err := io.Copy(io.Discard, x); err == nil {
		t.Fatal("decoding a truncated xz file succeeded")
	}
}

func TestParseXzBlockHeader(t *testing.T) {
	// A 16-byte header as xz -T writes it: flags 0xc0 (both sizes),
	// compressed size 0x1234 (varint b4 24), uncompressed 1 MiB
	// (varint 80 80 40), one filter: LZMA2 (0x21), 1 property byte, dict
	// property 16 = 2<<(8+11) = 1 MiB; zero padding; CRC32.
	full := []byte{3, 0xc0, 0xb4, 0x24, 0x80, 0x80, 0x40, 0x21, 0x01, 16, 0, 0, 0, 0, 0, 0}
	c := crc32.ChecksumIEEE(full[:12])
	full[12], full[13], full[14], full[15] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
	h, err := parseXzBlockHeader(full)
	if err != nil {
		t.Fatal(err)
	}
	want := xzBlockHeader{size: 16, compressed: 0x1234, uncompressed: 1 << 20, dictCap: 1 << 20, lzma2Only: true}
	if h != want {
		t.Errorf("parseXzBlockHeader = %+v, want %+v", h, want)
	}
	full[5] ^= 1
	if _, err := parseXzBlockHeader(full); err == nil || !strings.Contains(err.Error(), "CRC32") {
		t.Errorf("parseXzBlockHeader(corrupt) = %v, want a CRC32 error", err)
	}
}

func FuzzXzStreams(f *testing.F) {
	f.Add([]byte("\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x := newXzParallel(bufio.NewReader(bytes.NewReader(b)), 2)
		io.Copy(io.Discard, io.LimitReader(x, 64<<20))
		x.Close()
	})
}
