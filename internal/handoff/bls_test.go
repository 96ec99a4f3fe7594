package handoff

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBLSEntry(t *testing.T) {
	b, err := os.ReadFile("testdata/fedora39/boot/loader/entries/" + fedoraMID + "-6.7.4-200.fc39.x86_64.conf")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseBLSEntry(fedoraMID+"-6.7.4-200.fc39.x86_64.conf", b)
	if err != nil {
		t.Fatal(err)
	}
	want := blsEntry{
		ID:        fedoraMID + "-6.7.4-200.fc39.x86_64",
		Title:     "Fedora Linux (6.7.4-200.fc39.x86_64) 39 (Thirty Nine)",
		Version:   "6.7.4-200.fc39.x86_64",
		Linux:     "/vmlinuz-6.7.4-200.fc39.x86_64",
		Initrd:    []string{"/initramfs-6.7.4-200.fc39.x86_64.img"},
		Options:   "root=UUID=0b6f8e2a-3c4d-4e5f-8a9b-1c2d3e4f5a6b ro rootflags=subvol=root rhgb quiet",
		TriesLeft: -1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseBLSEntry mismatch (-want +got):\n%s", diff)
	}
}

func TestParseBLSEntryForms(t *testing.T) {
	tests := []struct {
		name, file, text string
		want             blsEntry
		wantErr          string
	}{
		{
			name: "systemd-boot entry with microcode and two options lines",
			file: "arch+2-1.conf",
			text: "# Boot Loader Specification type#1 entry\ntitle\tArch Linux\nsort-key  arch\nmachine-id 81c6e3147cf544c19006af023e22b292\nlinux /vmlinuz-linux\ninitrd /intel-ucode.img\ninitrd /initramfs-linux.img\noptions root=PARTUUID=1e2d ro\noptions  quiet\n\n",
			want: blsEntry{ID: "arch", TriesLeft: 2, Title: "Arch Linux", SortKey: "arch", MachineID: "81c6e3147cf544c19006af023e22b292",
				Linux: "/vmlinuz-linux", Initrd: []string{"/intel-ucode.img", "/initramfs-linux.img"}, Options: "root=PARTUUID=1e2d ro quiet"},
		},
		{
			name: "bad entry: no tries left",
			file: "old+0-3.conf",
			text: "linux /vmlinuz\n",
			want: blsEntry{ID: "old", TriesLeft: 0, Linux: "/vmlinuz"},
		},
		{
			name: "plus sign that is not a counter",
			file: "6.1.0+deb12.conf",
			text: "linux /vmlinuz\n",
			want: blsEntry{ID: "6.1.0+deb12", TriesLeft: -1, Linux: "/vmlinuz"},
		},
		{
			name:    "uki entry",
			file:    "uki.conf",
			text:    "title UKI\nefi /EFI/Linux/fedora.efi\n",
			wantErr: "uki.conf: no linux key",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBLSEntry(tc.file, []byte(tc.text))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseBLSEntry(%q) error = %v, want %q", tc.file, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseBLSEntry(%q) mismatch (-want +got):\n%s", tc.file, diff)
			}
		})
	}
}

// TestSortBLS uses the entries of systemd's test-bootspec.c sort test; the
// expected order follows the specification's "Sorting" section.
func TestSortBLS(t *testing.T) {
	files := map[string]string{
		"a-10.conf": "title A\nversion 10\nmachine-id dd235d00696545768f6f693bfd23b15f\nlinux /a\n",
		"a-5.conf":  "title A\nversion 5\nmachine-id dd235d00696545768f6f693bfd23b15f\nlinux /a\n",
		"b.conf":    "title B\nversion 3\nmachine-id b75451ad92f94feeab50b0b442768dbd\nlinux /b\n",
		"c.conf":    "title C\nsort-key xxxx\nversion 5\nmachine-id 309de666fd5044268a9a26541ac93176\nlinux /c\n",
		"cx.conf":   "title C\nsort-key xxxx\nversion 10\nmachine-id 309de666fd5044268a9a26541ac93176\nlinux /c\n",
		"d.conf":    "title D\nsort-key kkkk\nversion 100\nmachine-id 81c6e3147cf544c19006af023e22b292\nlinux /d\n",
		"e+0.conf":  "title E (bad)\nsort-key aaaa\nlinux /e\n",
	}
	var entries []blsEntry
	for _, name := range []string{"a-5.conf", "e+0.conf", "b.conf", "cx.conf", "a-10.conf", "d.conf", "c.conf"} {
		e, err := parseBLSEntry(name, []byte(files[name]))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	sortBLS(entries)
	var got []string
	for _, e := range entries {
		got = append(got, e.ID)
	}
	want := []string{"d", "cx", "c", "b", "a-10", "a-5", "e"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted order mismatch (-want +got):\n%s", diff)
	}
}

func TestLoaderDefault(t *testing.T) {
	tests := []struct{ conf, want string }{
		{"timeout 3\ndefault fedora-*\n", "fedora-*"},
		{"#default x\ndefault @saved\n", ""},
		{"console-mode max\n", ""},
	}
	for _, tc := range tests {
		if got := loaderDefault([]byte(tc.conf)); got != tc.want {
			t.Errorf("loaderDefault(%q) = %q, want %q", tc.conf, got, tc.want)
		}
	}
}

func TestExpandBLSVars(t *testing.T) {
	env := map[string]string{"kernelopts": "root=UUID=x ro ", "tuned_params": "skew_tick=1"}
	tests := []struct{ in, want string }{
		{"$kernelopts", "root=UUID=x ro"},
		{"$kernelopts $tuned_params quiet", "root=UUID=x ro skew_tick=1 quiet"},
		{"${kernelopts}rd.break", "root=UUID=x ro rd.break"},
		{"$unset quiet", "quiet"},
		{"price=5$ ${", "price=5$ ${"},
	}
	for _, tc := range tests {
		if got := expandBLSVars(tc.in, env); got != tc.want {
			t.Errorf("expandBLSVars(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseGrubenv(t *testing.T) {
	b, err := os.ReadFile("testdata/fedora39/boot/grub2/grubenv")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 1024 {
		t.Fatalf("testdata grubenv is %d bytes; GRUB's block is 1024", len(b))
	}
	got, err := parseGrubenv(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"saved_entry":        fedoraMID + "-6.5.6-300.fc39.x86_64",
		"menu_auto_hide":     "1",
		"boot_success":       "0",
		"boot_indeterminate": "0",
		"kernelopts":         "root=UUID=0b6f8e2a-3c4d-4e5f-8a9b-1c2d3e4f5a6b ro rootflags=subvol=root rhgb quiet ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseGrubenv mismatch (-want +got):\n%s", diff)
	}

	// grub-editenv escapes backslash and newline with a backslash.
	esc := "# GRUB Environment Block\nweird=a\\\\b\\\nc\nx=1\n###"
	got, err = parseGrubenv([]byte(esc))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"weird": "a\\b\nc", "x": "1"}, got); diff != "" {
		t.Errorf("escaped grubenv mismatch (-want +got):\n%s", diff)
	}
	if _, err := parseGrubenv([]byte("saved_entry=0\n")); err == nil {
		t.Error("parseGrubenv without the header: no error")
	}
}
