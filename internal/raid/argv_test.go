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

		{"arcconf raid1 max", ArcconfCreateArgs, withCtl(withMembers(raid1, "0:0", "0:1"), 1), []string{"CREATE", "1", "LOGICALDRIVE", "Name", "os", "MAX", "1", "0", "0", "0", "1", "noprompt"}, ""},
		{"arcconf raid5 sized", ArcconfCreateArgs, withSize(withLevel(withCtl(withMembers(raid1, "0:4", "0:5", "1:6"), 2), "raid5"), 100<<30), []string{"CREATE", "2", "LOGICALDRIVE", "Name", "os", "102400", "5", "0", "4", "0", "5", "1", "6", "noprompt"}, ""},
		{"arcconf raid1e", ArcconfCreateArgs, withLevel(withCtl(withMembers(raid1, "0:0", "0:1", "0:2"), 1), "raid1e"), []string{"CREATE", "1", "LOGICALDRIVE", "Name", "os", "MAX", "1E", "0", "0", "0", "1", "0", "2", "noprompt"}, ""},
		{"arcconf raid10", ArcconfCreateArgs, withLevel(withCtl(withMembers(raid1, "0:0", "0:1", "0:2", "0:3"), 1), "raid10"), []string{"CREATE", "1", "LOGICALDRIVE", "Name", "os", "MAX", "10", "0", "0", "0", "1", "0", "2", "0", "3", "noprompt"}, ""},
		{"arcconf controller 0", ArcconfCreateArgs, withMembers(raid1, "0:0", "0:1"), nil, "arcconf numbers controllers from 1"},
		{"arcconf raid50", ArcconfCreateArgs, withLevel(withCtl(withMembers(raid1, "0:0", "0:1"), 1), "raid50"), nil, `level "raid50" not supported`},
		{"arcconf raid1 three", ArcconfCreateArgs, withCtl(withMembers(raid1, "0:0", "0:1", "0:2"), 1), nil, "raid1 takes exactly 2 members, got 3"},
		{"arcconf enclosure form", ArcconfCreateArgs, withCtl(withMembers(raid1, "0:0", "p1"), 1), nil, `member "p1" is not channel:device`},
		{"arcconf 16 characters", ArcconfCreateArgs, withName(withCtl(withMembers(raid1, "0:0", "0:1"), 1), "sixteen-chars-ok"), []string{"CREATE", "1", "LOGICALDRIVE", "Name", "sixteen-chars-ok", "MAX", "1", "0", "0", "0", "1", "noprompt"}, ""},
		{"arcconf 17 characters", ArcconfCreateArgs, withName(withCtl(withMembers(raid1, "0:0", "0:1"), 1), "seventeen-chars-x"), nil, `volume name "seventeen-chars-x" is 17 characters, want 1-16`},
		{"arcconf odd size", ArcconfCreateArgs, withSize(withCtl(withMembers(raid1, "0:0", "0:1"), 1), 1000), nil, "whole number of MiB"},

		{"tw_cli raid1", TwcliCreateArgs, withMembers(raid1, "p0", "p1"), []string{"/c0", "add", "type=raid1", "disk=0:1", "name=os"}, ""},
		{"tw_cli raid6", TwcliCreateArgs, withLevel(withCtl(withMembers(raid1, "p2", "p3", "p4", "p5", "p9"), 1), "raid6"), []string{"/c1", "add", "type=raid6", "disk=2:3:4:5:9", "name=os"}, ""},
		{"tw_cli raid6 four", TwcliCreateArgs, withLevel(withMembers(raid1, "p2", "p3", "p4", "p5"), "raid6"), nil, "raid6 takes at least 5 members, got 4"},
		{"tw_cli raid10 odd", TwcliCreateArgs, withLevel(withMembers(raid1, "p0", "p1", "p2", "p3", "p4"), "raid10"), nil, "even number"},
		{"tw_cli sized", TwcliCreateArgs, withSize(withMembers(raid1, "p0", "p1"), 100<<30), nil, "give size max"},
		{"tw_cli raid1e", TwcliCreateArgs, withLevel(withMembers(raid1, "p0", "p1", "p2"), "raid1e"), nil, `level "raid1e" not supported`},
		{"tw_cli enclosure form", TwcliCreateArgs, withMembers(raid1, "0:0", "0:1"), nil, `member "0:0" is not a tw_cli port pN`},
		{"tw_cli 21 characters", TwcliCreateArgs, withName(withMembers(raid1, "p0", "p1"), "twenty-one-characters"), []string{"/c0", "add", "type=raid1", "disk=0:1", "name=twenty-one-characters"}, ""},
		{"tw_cli 22 characters", TwcliCreateArgs, withName(withMembers(raid1, "p0", "p1"), "twenty-two-characters!"), nil, `volume name "twenty-two-characters!": want 1-21`},
		{"tw_cli 22 characters long", TwcliCreateArgs, withName(withMembers(raid1, "p0", "p1"), "twenty-two-characters2"), nil, "is 22 characters, want 1-21"},

		{"ssacli raid1 max", SsacliCreateArgs, withCtl(withMembers(raid1, "1I:1:1", "1I:1:2"), 2), []string{"ctrl", "slot=2", "create", "type=ld", "drives=1I:1:1,1I:1:2", "raid=1", "size=max"}, ""},
		{"ssacli raid10 sized", SsacliCreateArgs, withSize(withLevel(withMembers(raid1, "1I:1:1", "1I:1:2", "2I:1:5", "2I:1:6"), "raid10"), 100<<30), []string{"ctrl", "slot=0", "create", "type=ld", "drives=1I:1:1,1I:1:2,2I:1:5,2I:1:6", "raid=1+0", "size=102400"}, ""},
		{"ssacli raid50", SsacliCreateArgs, withLevel(withMembers(raid1, "1:1", "1:2", "1:3", "1:4", "1:5", "1:6"), "raid50"), []string{"ctrl", "slot=0", "create", "type=ld", "drives=1:1,1:2,1:3,1:4,1:5,1:6", "raid=50", "size=max"}, ""},
		{"ssacli raid1 four", SsacliCreateArgs, withMembers(raid1, "1I:1:1", "1I:1:2", "1I:1:3", "1I:1:4"), nil, "raid1 takes exactly 2 members, got 4"},
		{"ssacli raid1e", SsacliCreateArgs, withLevel(withMembers(raid1, "1I:1:1", "1I:1:2", "1I:1:3"), "raid1e"), nil, `level "raid1e" not supported`},
		{"ssacli name ignored", SsacliCreateArgs, withName(withMembers(raid1, "1I:1:1", "1I:1:2"), "a name ssacli cannot store"), []string{"ctrl", "slot=0", "create", "type=ld", "drives=1I:1:1,1I:1:2", "raid=1", "size=max"}, ""},
		{"ssacli port form", SsacliCreateArgs, withMembers(raid1, "p0", "p1"), nil, `member "p0" is not port:box:bay`},
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
	for _, tt := range []struct {
		name    string
		build   func(int, string) ([]string, error)
		ctrl    int
		id      string
		want    []string
		wantErr string
	}{
		{"arcconf", ArcconfDeleteArgs, 1, "0", []string{"DELETE", "1", "LOGICALDRIVE", "0", "noprompt"}, ""},
		{"arcconf controller 0", ArcconfDeleteArgs, 0, "0", nil, "numbers controllers from 1"},
		{"arcconf not a number", ArcconfDeleteArgs, 1, "0 noprompt", nil, "not a number"},
		{"tw_cli", TwcliDeleteArgs, 0, "u1", []string{"/c0/u1", "del", "quiet"}, ""},
		{"tw_cli bare number", TwcliDeleteArgs, 0, "1", nil, `unit "1" is not uN`},
		{"ssacli", SsacliDeleteArgs, 2, "1", []string{"ctrl", "slot=2", "ld", "1", "delete", "forced"}, ""},
		{"ssacli all", SsacliDeleteArgs, 2, "all", nil, "not a number"},
	} {
		got, err := tt.build(tt.ctrl, tt.id)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: DeleteArgs(%d, %q) = %q, %v; want error containing %q", tt.name, tt.ctrl, tt.id, got, err, tt.wantErr)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, got); err != nil || diff != "" {
			t.Errorf("%s: DeleteArgs(%d, %q) = %q, %v (-want +got):\n%s", tt.name, tt.ctrl, tt.id, got, err, diff)
		}
	}
}

func withSize(s VolumeSpec, n uint64) VolumeSpec       { s.SizeBytes = n; return s }
func withCtl(s VolumeSpec, c int) VolumeSpec           { s.Controller = c; return s }
func withLevel(s VolumeSpec, l string) VolumeSpec      { s.Level = l; return s }
func withName(s VolumeSpec, n string) VolumeSpec       { s.Name = n; return s }
func withMembers(s VolumeSpec, m ...string) VolumeSpec { s.Members = m; return s }
