package raid

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCreateArgs(t *testing.T) {
	raid1 := VolumeSpec{Controller: 0, Level: "raid1", Members: []string{"1:0", "1:1"}, Name: "os"}
	tests := []struct {
		name    string
		build   func(VolumeSpec) ([]string, error)
		spec    VolumeSpec
		want    []string
		wantErr string
	}{
		{"sas2ircu raid1 max", SAS2IRCUCreateArgs, raid1, []string{"0", "CREATE", "RAID1", "MAX", "1:0", "1:1", "os", "noprompt"}, ""},
		{"sas2ircu raid1 sized", SAS2IRCUCreateArgs, withSize(raid1, 100<<30), []string{"0", "CREATE", "RAID1", "102400", "1:0", "1:1", "os", "noprompt"}, ""},
		{"sas2ircu raid5", SAS2IRCUCreateArgs, withLevel(raid1, "raid5"), nil, "level \"raid5\" not supported"},
		{"sas2ircu raid1 three disks", SAS2IRCUCreateArgs, withMembers(raid1, "1:0", "1:1", "1:2"), nil, "exactly 2"},
		{"sas2ircu odd size", SAS2IRCUCreateArgs, withSize(raid1, 1000), nil, "whole number of MiB"},
		{"sas2ircu bad member", SAS2IRCUCreateArgs, withMembers(raid1, "1:0", "sda"), nil, "not enclosure:slot"},
		{"sas2ircu duplicate member", SAS2IRCUCreateArgs, withMembers(raid1, "1:0", "1:0"), nil, "named twice"},
		{"sas2ircu long name", SAS2IRCUCreateArgs, withName(raid1, "a-very-long-volume-name"), nil, "volume name"},
		{"sas2ircu name with space", SAS2IRCUCreateArgs, withName(raid1, "my os"), nil, "volume name"},
		{"storcli raid1", StorcliCreateArgs, withMembers(raid1, "252:0", "252:1"), []string{"/c0", "add", "vd", "r1", "name=os", "drives=252:0,252:1", "J"}, ""},
		{"storcli raid1 sized", StorcliCreateArgs, withSize(withMembers(raid1, "252:0", "252:1"), 100<<30), []string{"/c0", "add", "vd", "r1", "size=102400MB", "name=os", "drives=252:0,252:1", "J"}, ""},
		{"storcli no enclosure", StorcliCreateArgs, withMembers(raid1, ":4", ":5"), []string{"/c0", "add", "vd", "r1", "name=os", "drives=:4,:5", "J"}, ""},
		{"storcli raid10", StorcliCreateArgs, withLevel(withMembers(raid1, "252:0", "252:1", "252:2", "252:3"), "raid10"), []string{"/c0", "add", "vd", "r10", "name=os", "drives=252:0,252:1,252:2,252:3", "pdperarray=2", "J"}, ""},
		{"storcli raid10 odd", StorcliCreateArgs, withLevel(withMembers(raid1, "252:0", "252:1", "252:2"), "raid10"), nil, "even number"},
		{"storcli raid1e", StorcliCreateArgs, withLevel(raid1, "raid1e"), nil, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("build(%+v) = %q, %v; want error containing %q", tt.spec, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("build(%+v): %v", tt.spec, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteArgs(t *testing.T) {
	got, err := SAS2IRCUDeleteVolumeArgs(1, "79")
	if diff := cmp.Diff([]string{"1", "DELETEVOLUME", "79", "noprompt"}, got); err != nil || diff != "" {
		t.Errorf("SAS2IRCUDeleteVolumeArgs(1, 79) = %q, %v (-want +got):\n%s", got, err, diff)
	}
	if _, err := SAS2IRCUDeleteVolumeArgs(0, "79; reboot"); err == nil {
		t.Error("SAS2IRCUDeleteVolumeArgs accepted a non-numeric id")
	}
	got, err = StorcliDeleteArgs(0, "239", true)
	if diff := cmp.Diff([]string{"/c0/v239", "del", "force", "J"}, got); err != nil || diff != "" {
		t.Errorf("StorcliDeleteArgs(0, 239, force) = %q, %v (-want +got):\n%s", got, err, diff)
	}
	got, err = StorcliDeleteArgs(0, "1", false)
	if diff := cmp.Diff([]string{"/c0/v1", "del", "J"}, got); err != nil || diff != "" {
		t.Errorf("StorcliDeleteArgs(0, 1) = %q, %v (-want +got):\n%s", got, err, diff)
	}
}

func withSize(s VolumeSpec, n uint64) VolumeSpec       { s.SizeBytes = n; return s }
func withLevel(s VolumeSpec, l string) VolumeSpec      { s.Level = l; return s }
func withName(s VolumeSpec, n string) VolumeSpec       { s.Name = n; return s }
func withMembers(s VolumeSpec, m ...string) VolumeSpec { s.Members = m; return s }
