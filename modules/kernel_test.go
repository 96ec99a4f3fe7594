package modules

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// referenceKernel returns the lib/modules/KVER directory of the reference
// kernel and its KVER: $NEEDLE_KERNEL_DIR (a dir holding boot/ and
// lib/modules/), else <repo>/.cache/kernel/<the single KVER dir>. Without it
// the test skips, or fails when NEEDLE_QEMU=required.
func referenceKernel(tb testing.TB) (root, kver string) {
	tb.Helper()
	dir := os.Getenv("NEEDLE_KERNEL_DIR")
	if dir == "" {
		kdirs, _ := filepath.Glob(filepath.Join("..", ".cache", "kernel", "*"))
		if len(kdirs) == 1 {
			dir = kdirs[0]
		}
	}
	if dir != "" {
		vers, _ := filepath.Glob(filepath.Join(dir, "lib", "modules", "*"))
		if len(vers) == 1 {
			if st, err := os.Stat(filepath.Join(vers[0], "kernel")); err == nil && st.IsDir() {
				abs, err := filepath.Abs(vers[0])
				if err != nil {
					tb.Fatal(err)
				}
				return abs, filepath.Base(vers[0])
			}
		}
	}
	msg := "reference kernel not found: set NEEDLE_KERNEL_DIR or extract it into .cache/kernel/KVER (build.sh does)"
	if os.Getenv("NEEDLE_QEMU") == "required" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return "", ""
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
