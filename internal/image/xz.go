package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// Parallel xz: `xz -T0` (the way large images are compressed) cuts the
// input into independent blocks and records each block's compressed and
// uncompressed size in its header. Those blocks can be decoded on several
// cores at once and delivered in order; a single LZMA2 decoder in Go runs at
// about half the speed of liblzma, so this is what keeps needle on par with
// `xz -dc`. Streams without sizes in the block headers (single-threaded xz)
// and filter chains other than plain LZMA2 use the sequential decoder.
//
// Format: The .xz File Format 1.2.1 (tukaani.org/xz/xz-file-format.txt),
// §2.1 stream header/footer, §3.1 block header, §4 index, §5.3.1 LZMA2.

const (
	// xzMaxBlock bounds a buffered block: xz -T0 -6 makes 24 MiB blocks;
	// -9 makes 192 MiB ones, which take the sequential decoder instead.
	xzMaxBlock = 64 << 20
)

// xzBlockHeader is the part of a block header that parallel decoding needs.
type xzBlockHeader struct {
	size         int   // header size in bytes
	compressed   int64 // -1 when absent
	uncompressed int64 // -1 when absent
	dictCap      int
	lzma2Only    bool
}

// parseXzBlockHeader parses a block header at the start of b (which must
// hold the whole header: its first byte says how long it is).
func parseXzBlockHeader(b []byte) (xzBlockHeader, error) {
	h := xzBlockHeader{compressed: -1, uncompressed: -1}
	if len(b) == 0 || b[0] == 0 {
		return h, errors.New("not a block header")
	}
	h.size = (int(b[0]) + 1) * 4
	if len(b) < h.size {
		return h, fmt.Errorf("block header of %d bytes truncated to %d", h.size, len(b))
	}
	hdr := b[:h.size]
	if got, want := crc32.ChecksumIEEE(hdr[:h.size-4]), binary.LittleEndian.Uint32(hdr[h.size-4:]); got != want {
		return h, fmt.Errorf("block header CRC32 %#x, computed %#x", want, got)
	}
	flags := hdr[1]
	if flags&0x3c != 0 {
		return h, fmt.Errorf("block header reserved flags %#x set", flags)
	}
	p := hdr[2 : h.size-4]
	var err error
	if flags&0x40 != 0 {
		var v uint64
		if v, p, err = xzVarint(p); err != nil {
			return h, fmt.Errorf("compressed size: %w", err)
		}
		h.compressed = int64(v)
	}
	if flags&0x80 != 0 {
		var v uint64
		if v, p, err = xzVarint(p); err != nil {
			return h, fmt.Errorf("uncompressed size: %w", err)
		}
		h.uncompressed = int64(v)
	}
	nf := int(flags&3) + 1
	for i := range nf {
		var id, psize uint64
		if id, p, err = xzVarint(p); err != nil {
			return h, fmt.Errorf("filter %d id: %w", i, err)
		}
		if psize, p, err = xzVarint(p); err != nil {
			return h, fmt.Errorf("filter %d properties size: %w", i, err)
		}
		if uint64(len(p)) < psize {
			return h, fmt.Errorf("filter %d properties truncated", i)
		}
		if nf == 1 && id == 0x21 && psize == 1 {
			d := p[0]
			if d > 40 {
				return h, fmt.Errorf("LZMA2 dictionary property %d > 40", d)
			}
			h.dictCap = 0x7fffffff
			if d < 40 {
				h.dictCap = (2 | int(d&1)) << (d/2 + 11)
			}
			h.lzma2Only = true
		}
		p = p[psize:]
	}
	if !bytes.Equal(p, make([]byte, len(p))) {
		return h, errors.New("block header padding is not zero")
	}
	return h, nil
}

// xzVarint decodes the format's multibyte integer (§1.2).
func xzVarint(b []byte) (uint64, []byte, error) {
	var v uint64
	for i := 0; i < 9 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if i > 0 && b[i] == 0 {
				return 0, nil, errors.New("non-minimal integer")
			}
			return v, b[i+1:], nil
		}
	}
	return 0, nil, errors.New("truncated or overlong integer")
}

// xzCheckSize is the size of the block check for a check type (§2.1.1.2).
func xzCheckSize(t byte) int {
	switch {
	case t == 0:
		return 0
	case t <= 3:
		return 4
	case t <= 6:
		return 8
	case t <= 9:
		return 16
	case t <= 12:
		return 32
	}
	return 64
}

// xzParallelOK says whether the stream starting at head (stream header and
// first block header) can be decoded in parallel: a property of the
// stream; whether it is worth it on this machine is the caller's choice.
func xzParallelOK(head []byte) bool {
	if len(head) < 13 {
		return false
	}
	h, err := parseXzBlockHeader(head[12:])
	return err == nil && h.lzma2Only && h.compressed >= 0 && h.uncompressed >= 0 && h.uncompressed <= xzMaxBlock && h.compressed <= xzMaxBlock+xzMaxBlock/8
}

type xzResult struct {
	data []byte
	err  error
}

// xzParallel decodes r block by block on workers goroutines, at most
// workers+1 blocks in flight, and returns them in order.
type xzParallel struct {
	pr   *io.PipeReader
	done chan struct{}
}

func newXzParallel(r *bufio.Reader, workers int) *xzParallel {
	pr, pw := io.Pipe()
	x := &xzParallel{pr: pr, done: make(chan struct{})}
	// One block being written, workers-1 queued: with the one being
	// dispatched that keeps every worker busy and bounds memory to about
	// workers+1 blocks (24 MiB each for xz -6).
	futures := make(chan chan xzResult, max(workers-1, 1))
	sem := make(chan struct{}, workers)
	// Output buffers are recycled: a pipe Write returns only once the
	// reader has taken every byte.
	bufs := make(chan []byte, workers+2)
	// Producer: parse and dispatch; it closes futures when the input ends
	// or fails (the failure is delivered as the last future).
	go func() {
		defer close(futures)
		fail := func(err error) {
			f := make(chan xzResult, 1)
			f <- xzResult{err: err}
			select {
			case futures <- f:
			case <-x.done:
			}
		}
		err := xzStreams(r, func(h xzBlockHeader, comp []byte, check byte) bool {
			f := make(chan xzResult, 1)
			select {
			case futures <- f:
			case <-x.done:
				return false
			}
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				var out []byte
				select {
				case out = <-bufs:
				default:
				}
				data, err := xzDecodeBlock(h, comp, check, out)
				f <- xzResult{data, err}
			}()
			return true
		})
		if err != nil {
			fail(err)
		}
	}()
	// Consumer: write blocks in order into the pipe.
	go func() {
		for f := range futures {
			res := <-f
			if res.err != nil {
				pw.CloseWithError(fmt.Errorf("xz: %w", res.err))
				return
			}
			if _, err := pw.Write(res.data); err != nil {
				return // reader closed
			}
			select {
			case bufs <- res.data:
			default:
			}
		}
		pw.Close()
	}()
	return x
}

func (x *xzParallel) Read(p []byte) (int, error) { return x.pr.Read(p) }

func (x *xzParallel) Close() error {
	select {
	case <-x.done:
	default:
		close(x.done)
	}
	return x.pr.Close()
}

// xzStreams walks concatenated streams, calling block for each block with
// its compressed bytes (padding and check stripped, the check's type and
// value appended after the data for xzDecodeBlock to verify).
func xzStreams(r *bufio.Reader, block func(h xzBlockHeader, comp []byte, check byte) bool) error {
	for stream := 0; ; stream++ {
		var sh [12]byte
		if _, err := io.ReadFull(r, sh[:]); err != nil {
			if stream > 0 && errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("stream %d header: %w", stream, err)
		}
		if !bytes.Equal(sh[:6], magicXz) || sh[6] != 0 || sh[7] > 0x0f ||
			crc32.ChecksumIEEE(sh[6:8]) != binary.LittleEndian.Uint32(sh[8:]) {
			return fmt.Errorf("stream %d: bad stream header", stream)
		}
		check := sh[7]
		var records [][2]int64 // unpadded size, uncompressed size
		for {
			first, err := r.Peek(1)
			if err != nil {
				return fmt.Errorf("block %d: %w", len(records), err)
			}
			if first[0] == 0 {
				break // index
			}
			raw, err := r.Peek((int(first[0]) + 1) * 4)
			if err != nil {
				return fmt.Errorf("block %d header: %w", len(records), err)
			}
			h, err := parseXzBlockHeader(raw)
			if err != nil {
				return fmt.Errorf("block %d: %w", len(records), err)
			}
			if !h.lzma2Only || h.compressed < 0 || h.uncompressed < 0 || h.uncompressed > xzMaxBlock || h.compressed > xzMaxBlock+xzMaxBlock/8 {
				return fmt.Errorf("block %d: no sizes in the header, a filter other than LZMA2, or over %d bytes: not decodable in parallel", len(records), xzMaxBlock)
			}
			r.Discard(h.size)
			cs := xzCheckSize(check)
			pad := (4 - h.compressed%4) % 4
			buf := make([]byte, h.compressed+pad+int64(cs))
			if _, err := io.ReadFull(r, buf); err != nil {
				return fmt.Errorf("block %d data: %w", len(records), err)
			}
			if !bytes.Equal(buf[h.compressed:h.compressed+pad], make([]byte, pad)) {
				return fmt.Errorf("block %d: padding not zero", len(records))
			}
			records = append(records, [2]int64{int64(h.size) + h.compressed + int64(cs), h.uncompressed})
			if !block(h, buf, check) {
				return nil
			}
		}
		if err := xzIndexAndFooter(r, records, sh[6:8]); err != nil {
			return fmt.Errorf("stream %d: %w", stream, err)
		}
		// Stream padding: zero bytes in multiples of four (§2.2).
		for {
			b, err := r.Peek(4)
			if err != nil || !bytes.Equal(b, []byte{0, 0, 0, 0}) {
				break
			}
			r.Discard(4)
		}
	}
}

// xzIndexAndFooter checks the index against the blocks seen (§4) and the
// stream footer (§2.1.2).
func xzIndexAndFooter(r *bufio.Reader, records [][2]int64, flags []byte) error {
	crc := crc32.NewIEEE()
	readByte := func() (byte, error) {
		c, err := r.ReadByte()
		if err == nil {
			crc.Write([]byte{c})
		}
		return c, err
	}
	readVarint := func() (uint64, error) {
		var v uint64
		for i := range 9 {
			c, err := readByte()
			if err != nil {
				return 0, err
			}
			v |= uint64(c&0x7f) << (7 * i)
			if c&0x80 == 0 {
				return v, nil
			}
		}
		return 0, errors.New("overlong integer")
	}
	if c, err := readByte(); err != nil || c != 0 {
		return fmt.Errorf("index indicator: %v", err)
	}
	n, err := readVarint()
	if err != nil || n != uint64(len(records)) {
		return fmt.Errorf("index has %d records, saw %d blocks (%v)", n, len(records), err)
	}
	size := 1 + varintLen(n)
	for i, rec := range records {
		u, err1 := readVarint()
		v, err2 := readVarint()
		if err1 != nil || err2 != nil || int64(u) != rec[0] || int64(v) != rec[1] {
			return fmt.Errorf("index record %d (%d, %d) does not match block (%d, %d)", i, u, v, rec[0], rec[1])
		}
		size += varintLen(u) + varintLen(v)
	}
	for ; size%4 != 0; size++ {
		if c, err := readByte(); err != nil || c != 0 {
			return errors.New("index padding not zero")
		}
	}
	want := crc.Sum32()
	var tail [16]byte // index CRC32 + stream footer
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return fmt.Errorf("index CRC and footer: %w", err)
	}
	if binary.LittleEndian.Uint32(tail[:4]) != want {
		return errors.New("index CRC32 mismatch")
	}
	f := tail[4:]
	if crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) || !bytes.Equal(f[8:10], flags) || string(f[10:12]) != "YZ" {
		return errors.New("bad stream footer")
	}
	if back := (int64(binary.LittleEndian.Uint32(f[4:8])) + 1) * 4; back != int64(size)+4 {
		return fmt.Errorf("footer backward size %d, index is %d bytes", back, size+4)
	}
	return nil
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// xzDecodeBlock decompresses one block and verifies its check.
func xzDecodeBlock(h xzBlockHeader, buf []byte, check byte, out []byte) ([]byte, error) {
	comp := buf[:h.compressed]
	sum := buf[len(buf)-xzCheckSize(check):]
	dr, err := lzma.Reader2Config{DictCap: max(h.dictCap, lzma.MinDictCap)}.NewReader2(bytes.NewReader(comp))
	if err != nil {
		return nil, err
	}
	if int64(cap(out)) >= h.uncompressed {
		out = out[:h.uncompressed]
	} else {
		out = make([]byte, h.uncompressed)
	}
	if _, err := io.ReadFull(dr, out); err != nil {
		return nil, fmt.Errorf("LZMA2: %w", err)
	}
	if n, _ := dr.Read(make([]byte, 1)); n != 0 {
		return nil, errors.New("block longer than its header says")
	}
	var hh hash.Hash
	switch check {
	case 0:
		return out, nil
	case 1:
		hh = crc32.NewIEEE()
	case 4:
		hh = crc64.New(crc64.MakeTable(crc64.ECMA))
	case 10:
		hh = sha256.New()
	default:
		return out, nil // reserved check types: the artifact hash still covers it
	}
	hh.Write(out)
	got := hh.Sum(nil)
	if check != 10 { // CRCs are stored little endian
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
	}
	if !bytes.Equal(got, sum) {
		return nil, fmt.Errorf("block check mismatch")
	}
	return out, nil
}
