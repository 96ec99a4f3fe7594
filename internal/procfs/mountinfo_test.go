package procfs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMountinfo(t *testing.T) {
	// A real line shape (util-linux's libmount tests and a Debian 12 host),
	// with optional fields, none, and a mount point holding a blank.
	const mi = `22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 1 254:1 / / rw,relatime shared:1 master:2 - ext4 /dev/vda1 rw,errors=remount-ro
61 60 254:16 / /mnt/needle/root/boot\040efi rw,relatime - vfat /dev/vdb1 rw,fmask=0077
`
	got, err := ParseMountinfo([]byte(mi))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{ID: 22, Dev: "0:21", Root: "/", Point: "/sys", FSType: "sysfs", Source: "sysfs"},
		{ID: 28, Dev: "254:1", Root: "/", Point: "/", FSType: "ext4", Source: "/dev/vda1"},
		{ID: 61, Dev: "254:16", Root: "/", Point: "/mnt/needle/root/boot efi", FSType: "vfat", Source: "/dev/vdb1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseMountinfo (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"garbage line\n", "x 1 0:1 / /a rw - t s\n"} {
		if _, err := ParseMountinfo([]byte(bad)); err == nil {
			t.Errorf("ParseMountinfo(%q): no error", bad)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:    "/a b",
		`/tab\011`:   "/tab\t",
		`/back\134x`: `/back\x`,
		`/short\04`:  `/short\04`,
		`/not\0a9`:   `/not\0a9`,
		`/plain`:     "/plain",
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
