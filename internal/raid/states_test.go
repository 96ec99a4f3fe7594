package raid

import "testing"

// TestStateWords pins the vendor state words (from the tools' own legends
// and user guides) to the normalised states apply decisions rest on.
func TestStateWords(t *testing.T) {
	type mapper func(string) (string, bool)
	tests := []struct {
		name string
		fn   mapper
		in   map[string]string // raw -> normalised; "" means refused
	}{
		{"sas2ircu volume", ircuVolumeState, map[string]string{
			"Okay (OKY)": VolumeOptimal, "Degraded (DGD)": VolumeDegraded, "Failed (FLD)": VolumeFailed,
			"Missing (MIS)": VolumeFailed, "Initializing (INIT)": VolumeInitializing, "Online (ONL)": VolumeOptimal,
			"Okay": "", "Okay (ok)": "",
		}},
		{"sas2ircu disk", ircuDiskState, map[string]string{
			"Optimal (OPT)": DiskOnline, "Ready (RDY)": DiskReady, "Available (AVL)": DiskReady, "Hot Spare (HSP)": DiskHotSpare,
			"Failed (FLD)": DiskFailed, "Missing (MIS)": DiskMissing, "Standby (SBY)": DiskStandby,
			"Out of Sync (OSY)": DiskRebuilding, "Rebuilding (RBLD)": DiskRebuilding, "Degraded (DGD)": DiskFailed, "Ready": "",
		}},
		{"storcli VD", storcliVDState, map[string]string{
			"Optl": VolumeOptimal, "Dgrd": VolumeDegraded, "Pdgd": VolumeDegraded, "OfLn": VolumeOffline, "Rec": VolumeRebuilding, "optl": "",
		}},
		{"storcli PD", storcliPDState, map[string]string{
			"Onln": DiskOnline, "UGood": DiskReady, "UBad": DiskFailed, "Offln": DiskOffline, "Rbld": DiskRebuilding,
			"GHS": DiskHotSpare, "DHS": DiskHotSpare, "Msng": DiskMissing, "JBOD": DiskOnline, "Conf": "",
		}},
	}
	for _, tt := range tests {
		for raw, want := range tt.in {
			got, ok := tt.fn(raw)
			if want == "" {
				if ok {
					t.Errorf("%s: %q mapped to %q, want refused", tt.name, raw, got)
				}
				continue
			}
			if !ok || got != want {
				t.Errorf("%s: %q = %q, %v; want %q", tt.name, raw, got, ok, want)
			}
		}
	}
}
