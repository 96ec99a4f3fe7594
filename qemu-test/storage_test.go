package qemutest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rootImage makes a small ext4 root filesystem (mkfs.ext4 -d) compressed
// with zstd, as an OS image would arrive, and returns its bytes and hash.
func rootImage(t *testing.T) ([]byte, string) {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (e2fsprogs, zstd: .ci/run installs them)", tool)
		}
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"etc", "boot", "var/log"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tree, "etc/hostname"), []byte("debian\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nsvc:x:1000:1000::/home/svc:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "etc/group"), []byte("root:x:0:\nsvc:x:1000:\n"), 0o644)
	// Some incompressible content, so the stream takes a moment.
	blob := make([]byte, 8<<20)
	for i := range blob {
		blob[i] = byte(i*7919 + i>>8)
	}
	os.WriteFile(filepath.Join(tree, "var/log/blob"), blob, 0o644)
	img := filepath.Join(dir, "root.img")
	for _, argv := range [][]string{
		{"truncate", "-s", "96M", img},
		{"mkfs.ext4", "-q", "-F", "-d", tree, "-L", "needle-root", img},
		{"zstd", "-q", "-f", img, "-o", img + ".zst"},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", argv, err, out)
		}
	}
	b, err := os.ReadFile(img + ".zst")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func storagePlan(imageURL, sum string) string {
	return fmt.Sprintf(`version: 1
name: qemu-storage
disks:
  - id: target
    select:
      serial: needle-root
      size: {min: 1536MiB, max: 3GiB}
    wipe: true
    partitions:
      - name: esp
        type: esp
        size: 64MiB
        filesystem: {format: vfat, label: ESP}
      - name: root
        type: linux-root-x86-64
        size: rest
        image:
          url: %s
          sha256: %s
files:
  - path: /etc/hostname
    contents: {inline: "needle-qemu\n"}
    filesystem: root
  - path: /etc/needle-marker
    mode: "0640"
    owner: svc:svc
    contents: {inline: "installed by needle\n"}
    filesystem: root
boot:
  reboot: {}
`, imageURL, sum)
}

// fill writes a recognisable pattern at a few places of an image, so that
// "untouched" means something.
func fill(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	for _, off := range []int64{0, 512, 1 << 20, fi.Size() / 2, fi.Size() - 4096} {
		f.WriteAt(bytes.Repeat([]byte("needle-untouched"), 256), off)
	}
}

// run runs a host oracle and returns its output.
func oracle(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// extract copies [off, off+n) of an image into a file of its own.
func extract(t *testing.T, img string, off, n int64) string {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(t.TempDir(), "part.img")
	dst, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	buf := make([]byte, 1<<20)
	for done := int64(0); done < n; {
		k := int64(len(buf))
		if n-done < k {
			k = n - done
		}
		m, err := src.ReadAt(buf[:k], off+done)
		if m == 0 && err != nil {
			t.Fatal(err)
		}
		dst.WriteAt(buf[:m], done)
		done += int64(m)
	}
	return p
}

// TestInstallStorage: the whole storage path on two virtio disks of
// different sizes and a USB stick. The plan picks the 2 GiB disk by size
// and serial, partitions ESP + root, streams a zstd image and writes
// files; the server cuts the first image download halfway, so the writer
// must resume with a Range request. After the VM is off, the host's
// oracles check the chosen disk and that the other disk and the stick are
// byte-for-byte untouched.
//
// Wiring: virtio-blk 2 GiB serial needle-root (the target), virtio-blk
// 1 GiB serial other, qemu-xhci + usb-storage 256 MiB stick; one
// virtio-net NIC on slirp.
func TestInstallStorage(t *testing.T) {
	t.Parallel()
	a := Require(t)
	img, sum := rootImage(t)
	srv := newProvServer(t)
	var mu sync.Mutex
	cut := false
	imgHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !cut
		cut = true
		mu.Unlock()
		// A strong validator, as a real server sends: resuming with
		// If-Range is only safe when the artifact cannot have changed.
		w.Header().Set("ETag", `"root-`+sum[:12]+`"`)
		if first && r.Header.Get("Range") == "" {
			// Drop the connection halfway through the first download.
			w.Header().Set("Content-Length", fmt.Sprint(len(img)))
			w.Header().Set("Accept-Ranges", "bytes")
			w.WriteHeader(http.StatusOK)
			w.Write(img[:len(img)/2])
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
			return
		}
		http.ServeContent(w, r, "root.img.zst", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(img))
	})
	srvURL := ServeHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/root.img.zst":
			imgHandler(w, r)
		case "/plan.yaml":
			fmt.Fprint(w, storagePlan(srv.URL+"/root.img.zst", sum))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.URL = srvURL
	target, other, stick := disk(t, "target.img", 2*gib), disk(t, "other.img", gib), disk(t, "stick.img", 256<<20)
	fill(t, target)
	fill(t, other)
	fill(t, stick)
	otherSum, stickSum := diskHash(t, other), diskHash(t, stick)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
		Append:      "quiet needle.onfail=poweroff needle.plan=" + srvURL + "/plan.yaml",
		Controllers: []string{"qemu-xhci,id=xhci"},
		Disks: []Disk{
			{File: target, Serial: "needle-root"},
			{File: other, Serial: "other"},
			{File: stick, Device: "usb-storage,drive=%s,bus=xhci.0,removable=on"},
		},
		NICs: []NIC{{MAC: mac0}},
	})
	vm.Expect(`plan:\s+would erase: /dev/vda \(2\.0 GiB, serial "needle-root"`, modTime)
	vm.Expect(`disks: /dev/vda wiped \(2\.0 GiB\): .*needle|disks: /dev/vda wiped`, 60*time.Second)
	vm.Expect(`image: root: zstd sha256:`+sum+`, 96\.0 MiB written in \S+ \(1 resumes`, 180*time.Second)
	vm.Expect(`disks: /dev/vda: gpt table written, 2 partitions seen by the kernel`, 60*time.Second)
	vm.Expect(`files: /etc/needle-marker on root: 20 bytes, mode 0640, owner 1000:1000`, 60*time.Second)
	vm.Expect(`installed; rebooting as the plan says`, 60*time.Second)
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Fatalf("guest did not reboot: %v", err)
	}
	out := vm.Console()
	if strings.Contains(out, "/dev/vdb wiped") || strings.Contains(out, "/dev/sda wiped") {
		t.Errorf("a disk other than the target was wiped")
	}

	// The host's oracles on the target.
	oracle(t, "sfdisk", "--verify", target)
	dump := oracle(t, "sfdisk", "--dump", target)
	if !strings.Contains(dump, `name="esp"`) || !strings.Contains(dump, `name="root"`) || !strings.Contains(dump, "start=        2048, size=      131072") {
		t.Errorf("partition table:\n%s", dump)
	}
	esp := extract(t, target, 1<<20, 64<<20)
	if out := oracle(t, "fsck.vfat", "-n", esp); !strings.Contains(out, "ESP") && !strings.Contains(out, "clusters") {
		t.Errorf("fsck.vfat: %s", out)
	}
	root := extract(t, target, 65<<20, 96<<20)
	oracle(t, "e2fsck", "-fn", root)
	if got := oracle(t, "debugfs", "-R", "cat /etc/hostname", root); !strings.Contains(got, "needle-qemu") {
		t.Errorf("/etc/hostname on the installed root: %q", got)
	}
	if got := oracle(t, "debugfs", "-R", "cat /var/log/needle/plan.yaml", root); !strings.Contains(got, "qemu-storage") {
		t.Errorf("needle's record of the plan: %q", got)
	}
	if diskHash(t, other) != otherSum {
		t.Errorf("the 1 GiB disk changed: only the plan's disk may be written")
	}
	if diskHash(t, stick) != stickSum {
		t.Errorf("the USB stick changed: removable disks are never erased unless the plan names them")
	}
}

// TestInstallBadHash: the image's hash is wrong. The install fails in the
// image stage and the disk is left unbootable: no partition table at all.
func TestInstallBadHash(t *testing.T) {
	t.Parallel()
	a := Require(t)
	img, _ := rootImage(t)
	srv := newProvServer(t)
	srv.put("/root.img.zst", img)
	wrong := strings.Repeat("ab", 32)
	srv.put("/plan.yaml", []byte(storagePlan(srv.URL+"/root.img.zst", wrong)))
	target := disk(t, "target.img", 2*gib)
	fill(t, target)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
		Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/plan.yaml",
		Disks:  []Disk{{File: target, Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`INSTALL FAILED\s+needle:\s+stage: image\s+needle:\s+step:\s+stream`, modTime+120*time.Second)
	vm.Expect(`cause: /dev/vda \(root\): .*`+wrong[:16], 10*time.Second)
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sfdisk", "--dump", target).CombinedOutput(); err == nil && strings.Contains(string(out), "start=") {
		t.Errorf("the failed disk carries a partition table:\n%s", out)
	}
	f, _ := os.Open(target)
	head := make([]byte, 1<<20)
	f.ReadAt(head, 0)
	f.Close()
	if !bytes.Equal(head, make([]byte, 1<<20)) {
		t.Errorf("the first MiB of the failed disk is not zero: it must not boot")
	}
}

// TestInstallWriteError: QEMU's blkdebug fails writes at one sector of the
// disk with EIO; the install stops with a message naming the device and
// the offset, and never writes the partition table.
func TestInstallWriteError(t *testing.T) {
	t.Parallel()
	a := Require(t)
	img, sum := rootImage(t)
	srv := newProvServer(t)
	srv.put("/root.img.zst", img)
	srv.put("/plan.yaml", []byte(storagePlan(srv.URL+"/root.img.zst", sum)))
	target := disk(t, "target.img", 2*gib)
	// Sector 200000 (byte 102400000) lies inside the root partition
	// (which starts at 65 MiB), within the image's 96 MiB.
	cfg := filepath.Join(t.TempDir(), "blkdebug.cfg")
	os.WriteFile(cfg, []byte("[inject-error]\nevent = \"write_aio\"\nerrno = \"5\"\nsector = \"200000\"\n"), 0o644)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
		Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/plan.yaml",
		Disks:  []Disk{{File: "blkdebug:" + cfg + ":" + target, Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`INSTALL FAILED\s+needle:\s+stage: image`, modTime+120*time.Second)
	m := vm.Expect(`cause: /dev/vda \(root\): ([^\r\n]*)\r?\n`, 10*time.Second)
	if !strings.Contains(m[1], "input/output error") || !strings.Contains(m[1], "between byte") {
		t.Errorf("write failure message %q does not name the I/O error and its offset", m[1])
	}
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sfdisk", "--dump", target).CombinedOutput(); err == nil && strings.Contains(string(out), "start=") {
		t.Errorf("a partition table was written after the failure:\n%s", out)
	}
}
