package image

import (
	"context"
	"hash"
	"io"
	"sync/atomic"
)

// prefetch reads the compressed stream and hashes it in its own goroutine,
// a few chunks ahead of the decoder, so fetching and hashing overlap
// decompression (the shape of `curl | zstd -d | dd`, in one process). The
// counters are atomics because the writing goroutine reports progress.
type prefetch struct {
	ctx      context.Context
	full     chan pchunk
	free     chan []byte
	cur      pchunk
	pos      int
	err      error
	fetched  atomic.Int64
	consumed atomic.Int64 // read by the decoder: behind fetched by the prefetch depth
	resumes  atomic.Int64
}

type pchunk struct {
	buf []byte
	err error
}

const (
	prefetchChunk = 1 << 20
	prefetchDepth = 4
)

func newPrefetch(ctx context.Context, src stream, h hash.Hash) *prefetch {
	p := &prefetch{ctx: ctx, full: make(chan pchunk, prefetchDepth), free: make(chan []byte, prefetchDepth+1)}
	for range prefetchDepth + 1 {
		p.free <- make([]byte, prefetchChunk)
	}
	go func() {
		defer close(p.full)
		for {
			var buf []byte
			select {
			case buf = <-p.free:
			case <-ctx.Done():
				return
			}
			n, err := fill(src, buf)
			if n > 0 {
				h.Write(buf[:n])
				p.fetched.Add(int64(n))
			}
			p.resumes.Store(int64(src.Resumes()))
			select {
			case p.full <- pchunk{buf[:n], err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *prefetch) Read(b []byte) (int, error) {
	for p.pos == len(p.cur.buf) {
		if p.err != nil {
			return 0, p.err
		}
		if p.cur.buf != nil {
			p.free <- p.cur.buf[:cap(p.cur.buf)]
			p.cur.buf = nil
		}
		c, ok := <-p.full
		if !ok {
			if err := p.ctx.Err(); err != nil {
				return 0, err
			}
			return 0, io.ErrUnexpectedEOF
		}
		p.cur, p.pos, p.err = c, 0, c.err
	}
	n := copy(b, p.cur.buf[p.pos:])
	p.pos += n
	p.consumed.Add(int64(n))
	return n, nil
}
