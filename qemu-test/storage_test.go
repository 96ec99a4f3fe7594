package qemutest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/testenv"
)

// rootImage makes a small ext4 root filesystem (mkfs.ext4 -d) compressed
// with zstd, as an OS image would arrive, and returns its bytes and hash.
func rootImage(t *testing.T) ([]byte, string) {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "zstd"} {
		testenv.HostTool(t, tool)
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
func fill(t testing.TB, p string) {
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
	checkReceipt(t, a, oracle(t, "debugfs", "-R", "cat /var/log/needle/receipt.json", root),
		[]byte(storagePlan(srv.URL+"/root.img.zst", sum)), "needle-root", "sha256:"+sum)
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
	noTable(t, target)
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
	noTable(t, target)
}

// noTable fails the test when a disk image whose install failed carries a
// partition table: the table is written last, after everything succeeded.
func noTable(t *testing.T, disk string) {
	t.Helper()
	if out, err := exec.Command("sfdisk", "--dump", disk).CombinedOutput(); err == nil && strings.Contains(string(out), "start=") {
		t.Errorf("%s carries a partition table after the failed install:\n%s", filepath.Base(disk), out)
	}
}

// garbage is what zero-out tests pre-fill their disks with: non-zero in
// every byte, so that a block the guest neither zeroed nor wrote shows.
var garbage = bytes.Repeat([]byte("needle-garbage!\xa5"), 256) // 4 KiB

// fillAll writes garbage over the whole of a disk image.
func fillAll(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat(garbage, (1<<20)/len(garbage))
	for off := int64(0); off < fi.Size(); off += int64(len(buf)) {
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

// readRange returns [off, off+n) of an image file.
func readRange(t *testing.T, p string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// garbageLeft counts the 4 KiB blocks of b that still hold the garbage.
func garbageLeft(b []byte) int {
	n := 0
	for i := 0; i+len(garbage) <= len(b); i += len(garbage) {
		if bytes.Equal(b[i:i+len(garbage)], garbage) {
			n++
		}
	}
	return n
}

// unzstd decompresses an image on the host.
func unzstd(t *testing.T, b []byte) []byte {
	t.Helper()
	cmd := exec.Command("zstd", "-q", "-d", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	return out
}

// zeroOutPlan is storagePlan's layout (ESP + root image) on a disk that
// asks for BLKZEROOUT, with no files and a plain reboot: nothing writes
// into the root filesystem after the image, so its bytes must equal the
// image's.
func zeroOutPlan(imageURL, sum string) string {
	return fmt.Sprintf(`version: 1
name: qemu-zeroout
disks:
  - id: target
    select: {serial: needle-root}
    wipe: {zeroout: true}
    partitions:
      - {name: esp, type: esp, size: 64MiB, filesystem: {format: vfat, label: ESP}}
      - name: root
        type: linux-root-x86-64
        size: rest
        image: {url: %s, sha256: %s}
boot:
  reboot: {}
`, imageURL, sum)
}

// TestInstallZeroOut: `wipe: {zeroout: true}` on a disk full of garbage.
// The disks stage issues BLKZEROOUT (QEMU's virtio-blk offers WRITE
// ZEROES), the image stage then skips the zero blocks of a mostly empty
// ext4 image, and the host checks that the root partition holds exactly
// the image's bytes (sha256), that the rest of the partition and every
// other unwritten block reads zeros, and that the console reported the
// skipped bytes.
//
// Wiring: one 1 GiB virtio-blk disk, serial needle-root, filled with a
// 4 KiB garbage pattern on the host; one virtio-net NIC on slirp.
func TestInstallZeroOut(t *testing.T) {
	t.Parallel()
	a := Require(t)
	img, sum := rootImage(t)
	raw := unzstd(t, img)
	rawSum := sha256.Sum256(raw)
	srv := newProvServer(t)
	srv.put("/root.img.zst", img)
	srv.put("/plan.yaml", []byte(zeroOutPlan(srv.URL+"/root.img.zst", sum)))
	target := disk(t, "target.img", gib)
	fillAll(t, target)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
		Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/plan.yaml",
		Disks:  []Disk{{File: target, Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`whole-disk erase: zero-out \(BLKZEROOUT`, modTime)
	vm.Expect(`disks: /dev/vda: zero-out of the whole disk \(1\.0 GiB\)`, 60*time.Second)
	vm.Expect(`disks: /dev/vda wiped \(1\.0 GiB\): zeroed; `, 5*time.Minute)
	m := vm.Expect(`image: root: zstd sha256:`+sum+`, 96\.0 MiB written in \S+ \(0 resumes, (\S+ \S+) skipped as zeros\)`, 180*time.Second)
	if m[1] == "0 B" || !strings.HasSuffix(m[1], "MiB") {
		t.Errorf("the image stage skipped %s of zeros on a zeroed disk; want megabytes", m[1])
	}
	vm.Expect(`disks: /dev/vda: gpt table written, 2 partitions seen by the kernel`, 60*time.Second)
	vm.Expect(`installed; rebooting as the plan says`, 60*time.Second)
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Fatalf("guest did not reboot: %v", err)
	}

	oracle(t, "sfdisk", "--verify", target)
	const rootStart = 65 << 20
	rootPart := readRange(t, target, rootStart, gib-rootStart-1<<20) // the GPT backup takes the last MiB
	if got := sha256.Sum256(rootPart[:len(raw)]); got != rawSum {
		t.Errorf("root partition: sha256 %x, want the image's %x", got, rawSum)
	}
	if rest := rootPart[len(raw):]; !bytes.Equal(rest, make([]byte, len(rest))) {
		t.Errorf("root partition past the image (%d bytes) is not all zeros: BLKZEROOUT did not reach the disk", len(rest))
	}
	if n := garbageLeft(readRange(t, target, 0, gib)); n > 0 {
		t.Errorf("%d blocks of the pre-filled garbage survived the zero-out", n)
	}
	esp := extract(t, target, 1<<20, 64<<20)
	if out := oracle(t, "fsck.vfat", "-n", esp); !strings.Contains(out, "ESP") && !strings.Contains(out, "clusters") {
		t.Errorf("fsck.vfat: %s", out)
	}
	oracle(t, "e2fsck", "-fn", extract(t, target, rootStart, int64(len(raw))))
}

// TestInstallZeroOutMD: the same on a Linux md RAID1 that needle creates
// over two garbage-filled disks, with `wipe: {zeroout: true}` on the disk
// that selects the array. BLKZEROOUT on /dev/mdX goes through md to both
// members (the kernel writes zero pages itself where md does not pass
// WRITE ZEROES down), so the image stage may skip zeros there too. The
// host reads the array's data area from each member (mdadm --examine
// gives its offset) and checks the root image's bytes and that no garbage
// survived in either.
//
// Wiring: two 1 GiB virtio-blk disks (serials md-a, md-b), filled with a
// 4 KiB garbage pattern on the host; one virtio-net NIC on slirp.
func TestInstallZeroOutMD(t *testing.T) {
	t.Parallel()
	a := Require(t)
	img, sum := rootImage(t)
	raw := unzstd(t, img)
	rawSum := sha256.Sum256(raw)
	srv := newProvServer(t)
	srv.put("/root.img.zst", img)
	p := strings.Replace(zeroOutPlan(srv.URL+"/root.img.zst", sum), `disks:
  - id: target
    select: {serial: needle-root}
`, `md:
  - {name: os, level: raid1, devices: [md-a, md-b]}
disks:
  - {id: md-a, select: {serial: md-a}, wipe: true}
  - {id: md-b, select: {serial: md-b}, wipe: true}
  - id: target
    select: {md: os}
`, 1)
	srv.put("/plan.yaml", []byte(p))
	da, db := disk(t, "a.img", gib), disk(t, "b.img", gib)
	fillAll(t, da)
	fillAll(t, db)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
		Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/plan.yaml",
		Disks:  []Disk{{File: da, Serial: "md-a"}, {File: db, Serial: "md-b"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`whole-disk erase: zero-out \(BLKZEROOUT`, modTime)
	md := vm.Expect(`raid: md os: /dev/(md\d+) raid1 over \[/dev/vda /dev/vdb\]`, 60*time.Second)[1]
	vm.Expect(`disks: /dev/`+md+` wiped \(\S+ MiB\): zeroed; `, 5*time.Minute)
	m := vm.Expect(`image: root: zstd sha256:`+sum+`, 96\.0 MiB written in \S+ \(0 resumes, (\S+ \S+) skipped as zeros\)`, 180*time.Second)
	if m[1] == "0 B" || !strings.HasSuffix(m[1], "MiB") {
		t.Errorf("the image stage skipped %s of zeros on a zeroed md array; want megabytes", m[1])
	}
	vm.Expect(`disks: /dev/`+md+`: gpt table written, 2 partitions seen by the kernel`, 60*time.Second)
	vm.Expect(`installed; rebooting as the plan says`, 60*time.Second)
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Fatalf("guest did not reboot: %v", err)
	}

	const rootStart = 65 << 20
	for _, d := range []string{da, db} {
		ex := oracle(t, "mdadm", "--examine", d)
		var off, size int64 // sectors
		for _, l := range strings.Split(ex, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(l), " : ")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "Data Offset":
				fmt.Sscanf(v, "%d sectors", &off)
			case "Avail Dev Size": // raid1: the array's size
				fmt.Sscanf(v, "%d sectors", &size)
			}
		}
		if off == 0 || size == 0 {
			t.Fatalf("mdadm --examine %s: no data offset or size:\n%s", d, ex)
		}
		data := readRange(t, d, off*512, size*512)
		if got := sha256.Sum256(data[rootStart : rootStart+len(raw)]); got != rawSum {
			t.Errorf("%s: root partition in the array: sha256 %x, want the image's %x", d, got, rawSum)
		}
		if n := garbageLeft(data); n > 0 {
			t.Errorf("%s: %d blocks of the pre-filled garbage survived in the array's data area", d, n)
		}
	}
}

// checkReceipt: the installed system's /var/log/needle/receipt.json binds
// the image that installed it (the digest of out/needle.manifest.json),
// the plan as served, the disk by its serial, the image by its digest, and
// the modules coldplug loaded.
func checkReceipt(t *testing.T, a Artifacts, receipt string, planBytes []byte, serial, imageDigest string) {
	t.Helper()
	var r struct {
		Manifest string `json:"manifest"`
		Plan     struct{ Digest, Signer string }
		Modules  []struct{ Module, Outcome string }
		Disks    []struct{ Serial string }
		Images   []struct{ Digest string }
	}
	// debugfs prints its banner ("debugfs 1.47.0 (…)") before the file.
	if i := strings.Index(receipt, "{"); i > 0 {
		receipt = receipt[i:]
	}
	if err := json.Unmarshal([]byte(receipt), &r); err != nil {
		t.Fatalf("receipt.json: %v\n%s", err, receipt)
	}
	mf, err := os.ReadFile(filepath.Join(filepath.Dir(a.Initrd), "needle.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := manifest.Sum(mf); r.Manifest != want {
		t.Errorf("receipt manifest = %q, want %q (out/needle.manifest.json)", r.Manifest, want)
	}
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(planBytes)); r.Plan.Digest != want || r.Plan.Signer != "unsigned" {
		t.Errorf("receipt plan = %+v, want digest %s, unsigned", r.Plan, want)
	}
	if len(r.Disks) != 1 || r.Disks[0].Serial != serial {
		t.Errorf("receipt disks = %+v, want the one with serial %s", r.Disks, serial)
	}
	if len(r.Images) != 1 || r.Images[0].Digest != imageDigest {
		t.Errorf("receipt images = %+v, want %s", r.Images, imageDigest)
	}
	loaded := false
	for _, m := range r.Modules {
		if m.Module == "virtio_blk" && m.Outcome == "loaded" {
			loaded = true
		}
	}
	if !loaded {
		t.Errorf("receipt modules lack virtio_blk, loaded: %+v", r.Modules)
	}
}
