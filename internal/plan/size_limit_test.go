package plan

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestDecodeTooLarge: a plan over MaxSize is refused before YAML sees it,
// with the file and the cap named.
func TestDecodeTooLarge(t *testing.T) {
	data := []byte("version: 1\ndisks: [" + strings.Repeat("1,", MaxSize/2) + "1]\n")
	_, err := Decode("huge.yaml", data)
	if err == nil || !strings.Contains(err.Error(), "huge.yaml") || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("Decode(%d bytes) = %.200v, want a refusal naming huge.yaml and the 1 MiB cap", len(data), err)
	}
}

// TestReadFileBounded: ReadFile stops at the cap, also on an endless
// file such as /dev/zero.
func TestReadFileBounded(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := ReadFile(t.Context(), "/dev/zero")
	if err == nil || !strings.Contains(err.Error(), "/dev/zero") || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("ReadFile(/dev/zero) = %v, want a refusal naming the file and the cap", err)
	}
	p := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(p, []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(t.Context(), p); err != nil || string(b) != "version: 1\n" {
		t.Errorf("ReadFile(small plan) = %q, %v", b, err)
	}
}

// TestDecodeMemoryBounded: the worst plans under the cap (a flat list of
// a million nodes, an alias bomb, deep nesting) are refused with a bounded
// allocation. TotalAlloc bounds the peak heap from above. yaml.v3 builds
// the node tree of the whole input before the decoder's node count
// applies, so the size cap is what bounds that part.
func TestDecodeMemoryBounded(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n")
	for i := range 9 {
		prev := string(rune('a' + i))
		cur := string(rune('b' + i))
		bomb.WriteString(cur + ": &" + cur + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 10), ", ") + "]\n")
	}
	bomb.WriteString("disks: [*j]\n")
	flat := "version: 1\ndisks: [" + strings.Repeat("1,", MaxSize/2-20) + "1]\n"
	deep := "version: 1\ndisks: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
	str := strings.Repeat("x", MaxSize-4096)
	strAlias := "version: 1\nname: &s " + str + "\ndisks:\n" + strings.Repeat("  - {id: *s, select: {serial: *s}, wipe: *s}\n", 40)
	for _, tc := range []struct{ name, data string }{
		{"flat", flat}, {"alias bomb", bomb.String()}, {"deep", deep}, {"aliased 1 MB string", strAlias},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.data) > MaxSize {
				t.Fatalf("test input %d bytes, over the cap %d", len(tc.data), MaxSize)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Parse("bad.yaml", []byte(tc.data))
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %d bytes in, %.1f MiB allocated, %d bytes of error", tc.name, len(tc.data), float64(alloc)/(1<<20), len(err.Error()))
			if alloc > 256<<20 {
				t.Errorf("Parse(%s) allocated %d MiB, want under 256 MiB", tc.name, alloc>>20)
			}
			if len(err.Error()) > 64<<10 {
				t.Errorf("Parse(%s) error is %d bytes, want under 64 KiB", tc.name, len(err.Error()))
			}
		})
	}
}

// TestDecodeRSS measures what the issue measured, the resident memory of a
// process that parses the worst plan under the cap (a flat list of half a
// million items), in a child process so the test binary's own heap does
// not count.
func TestDecodeRSS(t *testing.T) {
	if os.Getenv("NEEDLE_PLAN_RSS_CHILD") == "1" {
		data := []byte("version: 1\ndisks: [" + strings.Repeat("1,", MaxSize/2-20) + "1]\n")
		if _, err := Parse("flat.yaml", data); err == nil {
			t.Fatal("Parse(flat) succeeded")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDecodeRSS$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NEEDLE_PLAN_RSS_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("peak RSS parsing a 1 MiB flat plan: %d MiB", rss>>20)
	if rss > 160<<20 {
		t.Errorf("peak RSS %d MiB, want under 160 MiB", rss>>20)
	}
}
