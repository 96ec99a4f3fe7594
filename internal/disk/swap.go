package disk

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// SwapOptions describe a swap signature.
type SwapOptions struct {
	PageSize int       // default 4096; the kernel only swaps on with its own page size
	UUID     uuid.UUID // zero: none (swapon does not need one; blkid shows it)
	Label    string    // up to 15 bytes
}

// MakeSwap writes what mkswap writes: the version-1 swap header of
// include/linux/swap.h (union swap_header, struct info at offset 1024:
// version, last_page, nr_badpages, uuid[16], volume_name[16]) and the
// "SWAPSPACE2" magic in the last 10 bytes of the first page. The first 1 KiB
// (boot sector bits) and the rest of the first page are zeroed so no older
// signature survives there.
func MakeSwap(w io.WriterAt, size int64, opts SwapOptions) error {
	ps := opts.PageSize
	if ps == 0 {
		ps = 4096
	}
	if ps < 4096 || ps&(ps-1) != 0 {
		return fmt.Errorf("swap: page size %d: want a power of two of at least 4096", ps)
	}
	pages := size / int64(ps)
	// mm/swapfile.c:setup_swap_extents wants at least 10 pages to be useful;
	// mkswap refuses fewer than 10 as well.
	if pages < 10 {
		return fmt.Errorf("swap: %d bytes is fewer than 10 pages of %d", size, ps)
	}
	if pages-1 > 0xffffffff {
		return fmt.Errorf("swap: %d pages do not fit the header's 32-bit last_page", pages)
	}
	if len(opts.Label) > 15 {
		return fmt.Errorf("swap: label %q longer than 15 bytes", opts.Label)
	}
	page := make([]byte, ps)
	le := binary.LittleEndian
	le.PutUint32(page[1024:], 1)               // version
	le.PutUint32(page[1028:], uint32(pages-1)) // last_page
	le.PutUint32(page[1032:], 0)               // nr_badpages
	copy(page[1036:1052], opts.UUID[:])        // uuid
	copy(page[1052:1068], opts.Label)          // volume_name, NUL padded
	copy(page[ps-10:], "SWAPSPACE2")
	if _, err := w.WriteAt(page, 0); err != nil {
		return fmt.Errorf("swap: write header: %w", err)
	}
	return nil
}
