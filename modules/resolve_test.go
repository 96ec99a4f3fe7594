package modules

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestResolve resolves against the reference kernel's index cut to the
// QEMU drivers (testdata/index, real modules.dep/alias/softdep lines).
func TestResolve(t *testing.T) {
	ix, err := Load(filepath.Join("testdata", "index"))
	if err != nil {
		t.Fatal(err)
	}
	type step struct{ Name, Params, Why string }
	for _, tc := range []struct {
		name            string
		want            string
		pol             Policy
		wantSteps       []step
		wantBlacklisted []string
		wantErr         error
	}{
		{
			// ext4's deps from the deepest up; jbd2's softdep pre
			// crypto-crc32c is an alias matching two modules.
			name: "deps and softdep alias", want: "ext4",
			wantSteps: []step{
				{"crc32c_intel", "", "softdep pre of jbd2"},
				{"crc32c_generic", "", "softdep pre of jbd2"},
				{"jbd2", "", "dependency of ext4"},
				{"mbcache", "", "dependency of ext4"},
				{"crc16", "", "dependency of ext4"},
				{"ext4", "", "requested"},
			},
		},
		{
			name: "options", want: "nvme", pol: Policy{Options: map[string]string{"nvme": "poll_queues=2", "nvme_core": " multipath=N "}},
			wantSteps: []step{
				{"crct10dif_common", "", "dependency of nvme"},
				{"crc64", "", "dependency of nvme"},
				{"crct10dif_pclmul", "", "softdep pre of crc_t10dif"},
				{"crct10dif_generic", "", "softdep pre of crc_t10dif"},
				{"crc_t10dif", "", "dependency of nvme"},
				{"crc64_rocksoft", "", "dependency of nvme"},
				{"t10_pi", "", "dependency of nvme"},
				{"nvme_core", "multipath=N", "dependency of nvme"},
				{"nvme", "poll_queues=2", "requested"},
			},
		},
		{
			name: "blacklisted by alias", want: "pci:v00001000d00000054sv00000000sd00000000bc01sc00i00",
			pol:             Policy{Blacklist: []string{"mptsas"}},
			wantBlacklisted: []string{"mptsas"},
		},
		{
			name: "blacklisted but asked by name", want: "mptsas", pol: Policy{Blacklist: []string{"mptsas"}},
			wantSteps: []step{
				{"scsi_common", "", "dependency of mptsas"},
				{"scsi_mod", "", "dependency of mptsas"},
				{"scsi_transport_sas", "", "dependency of mptsas"},
				{"mptbase", "", "dependency of mptsas"},
				{"mptscsih", "", "dependency of mptsas"},
				{"mptsas", "", "requested"},
			},
		},
		{
			name: "softdep post from policy", want: "e1000", pol: Policy{Softdeps: map[string][]string{"e1000": {"post: virtio-net"}}},
			wantSteps: []step{
				{"e1000", "", "requested"},
				{"virtio_ring", "", "dependency of virtio_net"},
				{"virtio", "", "dependency of virtio_net"},
				{"failover", "", "dependency of virtio_net"},
				{"net_failover", "", "dependency of virtio_net"},
				{"virtio_net", "", "softdep post of e1000"},
			},
		},
		{
			name: "builtin by alias", want: "platform:rtc_cmos",
			wantSteps: []step{{"rtc_cmos", "", "alias platform:rtc_cmos"}},
		},
		{
			name: "unknown", want: "no-such-module", wantErr: ErrNotFound,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := ix.Resolve(tc.want, tc.pol)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Resolve(%q) error = %v, want %v", tc.want, err, tc.wantErr)
			}
			var got []step
			for _, s := range plan.Steps {
				got = append(got, step{s.Module.Name, s.Params, s.Why})
			}
			if diff := cmp.Diff(tc.wantSteps, got); diff != "" {
				t.Errorf("Resolve(%q) steps (-want +got):\n%s", tc.want, diff)
			}
			if diff := cmp.Diff(tc.wantBlacklisted, plan.Blacklisted); diff != "" {
				t.Errorf("Resolve(%q) blacklisted (-want +got):\n%s", tc.want, diff)
			}
		})
	}
}

func TestClosureAndSelect(t *testing.T) {
	ix, err := Load(filepath.Join("testdata", "index"))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := Closure(ix, []string{"virtio_blk", "virtio:d00000001v00001AF4", "rtc_cmos"})
	if err != nil {
		t.Fatal(err)
	}
	// Index (modules.order) order, rtc_cmos left out as builtin.
	want := []string{"virtio", "virtio_ring", "virtio_blk", "virtio_net", "net_failover", "failover"}
	if diff := cmp.Diff(want, names(mods)); diff != "" {
		t.Errorf("Closure (-want +got):\n%s", diff)
	}
	if _, err := Closure(ix, []string{"nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Closure(nope) error = %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		path string
		want Class
	}{
		{"kernel/drivers/scsi/megaraid/megaraid_sas.ko", Storage},
		{"updates/drivers/scsi/megaraid/megaraid_sas.ko", Storage},
		{"kernel/drivers/net/virtio_net.ko.xz", Network},
		{"kernel/net/8021q/8021q.ko", Network},
		{"kernel/drivers/md/raid456.ko", MD},
		{"kernel/fs/ext4/ext4.ko.zst", Filesystem},
		{"kernel/drivers/usb/storage/uas.ko", USBStorage},
		{"kernel/drivers/gpu/drm/drm.ko", ""},
		{"kernel/crypto/crc32c_generic.ko", ""},
	} {
		if got := Classify(&Module{Path: tc.path}); got != tc.want {
			t.Errorf("Classify(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestSelectReference reports the size of the default image's module
// selection for the reference kernel and checks it holds what the QEMU
// machines need, with the crypto their softdeps pull in.
func TestSelectReference(t *testing.T) {
	ix := referenceIndex(t)
	all := TotalSize(ix.Modules)
	for _, classes := range [][]Class{nil, {Storage}, {Network}, {MD}, {Filesystem}, {USBStorage}} {
		sel, err := Select(ix, classes...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("classes %v: %d modules, %.1f MiB of %.1f MiB", classes, len(sel.Modules), float64(sel.Size)/(1<<20), float64(all)/(1<<20))
		if classes == nil {
			got := map[string]bool{}
			for _, m := range sel.Modules {
				got[m.Name] = true
			}
			for _, n := range append(coldplugModules, "raid456", "dm_mod", "vfat", "xfs", "8021q", "bonding", "mpt3sas", "crc32c_generic", "crc32c_intel") {
				if !got[n] {
					t.Errorf("default selection lacks %s", n)
				}
			}
			if sel.Size >= all/2 {
				t.Errorf("default selection is %d bytes, more than half the tree (%d)", sel.Size, all)
			}
		}
	}
}
