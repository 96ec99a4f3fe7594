package raid

import (
	"os"
	"strings"
	"testing"
)

func FuzzProcDevices(f *testing.F) {
	f.Add([]byte(procDevices))
	f.Add([]byte("Character devices:\n243 megaraid_sas_ioctl\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := t.TempDir()
		if err := os.WriteFile(p+"/devices", data, 0o644); err != nil {
			t.Fatal(err)
		}
		nodes, err := NodesFor("/dev", p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if !strings.HasPrefix(n.Path, "/dev/") {
				t.Errorf("node %q outside /dev", n.Path)
			}
		}
	})
}
