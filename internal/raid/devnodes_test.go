package raid

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// procDevices is /proc/devices of a host with megaraid_sas and aacraid
// loaded (majors as the kernel handed them out; block devices follow and
// must not be read as character devices).
const procDevices = `Character devices:
  1 mem
  4 /dev/vc/0
 10 misc
 21 sg
243 megaraid_sas_ioctl
244 aac

Block devices:
  8 sd
245 twa
`

func writeProc(t *testing.T, devices, misc string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "devices"), []byte(devices), 0o644); err != nil {
		t.Fatal(err)
	}
	if misc != "" {
		if err := os.WriteFile(filepath.Join(dir, "misc"), []byte(misc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEnsureNodes(t *testing.T) {
	type made struct {
		Path         string
		Mode         uint32
		Major, Minor uint32
	}
	tests := []struct {
		name    string
		devices string
		misc    string
		exists  []string
		want    []made
	}{
		{"nothing loaded", "Character devices:\n  1 mem\n", "", nil, nil},
		{"mpt3sas registers both misc nodes", "Character devices:\n 10 misc\n", "221 mpt2ctl\n222 mpt3ctl\n 1 psaux\n", nil,
			[]made{{"mpt2ctl", sIFCHR | 0o600, 10, 221}, {"mpt3ctl", sIFCHR | 0o600, 10, 222}}},
		{"dynamic majors", procDevices, "", []string{"aac1"}, append([]made{{"megaraid_sas_ioctl_node", sIFCHR | 0o600, 243, 0},
			{"aac0", sIFCHR | 0o600, 244, 0}}, func() []made {
			var m []made
			for i := uint32(2); i < 8; i++ {
				m = append(m, made{"aac" + string(rune('0'+i)), sIFCHR | 0o600, 244, i})
			}
			return m
		}()...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := writeProc(t, tt.devices, tt.misc)
			dev := t.TempDir()
			for _, e := range tt.exists {
				os.WriteFile(filepath.Join(dev, e), nil, 0o600)
			}
			var got []made
			err := EnsureNodes(dev, proc, func(path string, mode, major, minor uint32) error {
				rel, _ := filepath.Rel(dev, path)
				got = append(got, made{rel, mode, major, minor})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mknod calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnsureNodesErrors(t *testing.T) {
	if err := EnsureNodes(t.TempDir(), t.TempDir(), nil); err == nil {
		t.Errorf("EnsureNodes without /proc/devices succeeded")
	}
	proc := writeProc(t, procDevices, "")
	err := EnsureNodes(t.TempDir(), proc, func(string, uint32, uint32, uint32) error { return os.ErrPermission })
	if !errors.Is(err, os.ErrPermission) {
		t.Errorf("EnsureNodes with failing mknod = %v, want the permission error", err)
	}
}
