package bootmedia

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/testenv"
)

func TestProbe(t *testing.T) {
	mk := func(label string) []byte {
		var buf writerAt
		if err := disk.MakeFAT32(&buf, 40<<20, nil, disk.FATOptions{Label: label}); err != nil {
			t.Fatal(err)
		}
		return buf.b[:probeSize]
	}
	// A FAT16 boot sector as mkfs.fat writes it (the fields Probe reads).
	fat16 := make([]byte, 512)
	fat16[0], fat16[11], fat16[12], fat16[13], fat16[38] = 0xeb, 0x00, 0x02, 4, 0x29
	copy(fat16[43:], "SMALLSTICK ")
	copy(fat16[54:], "FAT16   ")
	fat16[510], fat16[511] = 0x55, 0xaa
	protective := make([]byte, 512)
	protective[450], protective[510], protective[511] = 0xee, 0x55, 0xaa
	iso := make([]byte, probeSize)
	copy(iso[32768:], "\x01CD001\x01")
	copy(iso[32768+40:], "NEEDLE                          ")

	for _, tc := range []struct {
		name          string
		head          []byte
		fstype, label string
	}{
		{"fat32 labelled", mk("NEEDLE"), VFAT, "NEEDLE"},
		{"fat32 unlabelled", mk(""), VFAT, ""},
		{"fat16", fat16, VFAT, "SMALLSTICK"},
		{"protective MBR", protective, "", ""},
		{"iso9660", iso, ISO9660, "NEEDLE"},
		{"short read", []byte{0xeb}, "", ""},
		{"zeros", make([]byte, probeSize), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fstype, label := Probe(tc.head)
			if fstype != tc.fstype || label != tc.label {
				t.Errorf("Probe() = %q, %q; want %q, %q", fstype, label, tc.fstype, tc.label)
			}
		})
	}
}

// TestProbeMkfs checks the parser against dosfstools' own output, when
// mkfs.fat is on the host.
func TestProbeMkfs(t *testing.T) {
	testenv.HostTool(t, "mkfs.fat")
	for _, tc := range []struct{ args []string }{{[]string{"-F", "32"}}, {[]string{"-F", "16"}}, {[]string{"-F", "12"}}} {
		p := filepath.Join(t.TempDir(), "fat.img")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 64<<20); err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{}, tc.args...), "-n", "NEEDLE", p)
		if tc.args[1] == "12" {
			os.Truncate(p, 8<<20)
		}
		if out, err := exec.Command("mkfs.fat", args...).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.fat %q: %v\n%s", args, err, out)
		}
		b, _ := os.ReadFile(p)
		if fstype, label := Probe(b[:probeSize]); fstype != VFAT || label != "NEEDLE" {
			t.Errorf("mkfs.fat %q: Probe() = %q, %q; want vfat, NEEDLE", args, fstype, label)
		}
	}
}

func FuzzProbe(f *testing.F) {
	iso := make([]byte, probeSize)
	copy(iso[32768:], "\x01CD001\x01")
	f.Add(iso)
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		fstype, label := Probe(b)
		if fstype == "" && label != "" {
			t.Errorf("label %q without a filesystem", label)
		}
		if bytes.ContainsRune([]byte(label), 0) {
			t.Errorf("label %q holds NUL", label)
		}
	})
}

// writerAt is an in-memory io.WriterAt.
type writerAt struct{ b []byte }

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(w.b)) {
		w.b = append(w.b, make([]byte, end-int64(len(w.b)))...)
	}
	return copy(w.b[off:], p), nil
}
