package modules

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/testenv"
)

// referenceKernel returns the lib/modules/KVER directory of the kernel
// ./build.sh built the image with, and its KVER (testenv.Kernel). Without
// it the test skips, or fails when NEEDLE_QEMU=required.
func referenceKernel(tb testing.TB) (root, kver string) {
	tb.Helper()
	dir, kver := testenv.Kernel(tb)
	abs, err := filepath.Abs(filepath.Join(dir, "lib", "modules", kver))
	if err != nil {
		tb.Fatal(err)
	}
	return abs, kver
}

// refCache keeps the reference kernel's index for the test binary's life:
// building it takes seconds and several tests and benchmarks read it.
var refCache struct {
	sync.Mutex
	ix *Index
}

// referenceIndex builds (once) the reference kernel's index.
func referenceIndex(tb testing.TB) *Index {
	tb.Helper()
	root, _ := referenceKernel(tb)
	refCache.Lock()
	defer refCache.Unlock()
	if refCache.ix == nil {
		start := time.Now()
		ix, err := Build(root, BuildOptions{})
		if err != nil {
			tb.Fatalf("Build(%s): %v", root, err)
		}
		tb.Logf("index of %d modules, %d builtins, %d aliases built in %v", len(ix.Modules), len(ix.Builtin), ix.Aliases().Len(), time.Since(start))
		refCache.ix = ix
	}
	return refCache.ix
}

// BenchmarkBuild is the index build of the whole reference tree (page
// cache warm after the first run), with one worker and with one per CPU.
func BenchmarkBuild(b *testing.B) {
	root, _ := referenceKernel(b)
	for _, w := range []int{1, 0} {
		name := "workers=GOMAXPROCS"
		if w == 1 {
			name = "workers=1"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Build(root, BuildOptions{Workers: w}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
