package plan

import (
	"strings"
	"testing"
)

// TestFilePathRefused: everything a files: path can get wrong is refused
// by Parse, so `plan check` catches it and nothing is erased for a plan
// whose files step cannot run.
func TestFilePathRefused(t *testing.T) {
	base := "version: 1\ndisks:\n  - id: os\n    select: {serial: S}\n    wipe: true\n    partitions:\n      - {name: root, type: linux, size: rest, filesystem: {format: ext4}}\nboot: {reboot: {}}\nfiles:\n"
	for _, tc := range []struct{ name, path, want string }{
		{"NUL", `/etc/a\0b`, "NUL"},
		{"newline", `/etc/a\nb`, "control character"},
		{"DEL", `/etc/a\x7fb`, "control character"},
		{"relative", `etc/hostname`, "absolute"},
		{"dot-dot", `/etc/../../x`, "clean"},
		{"empty component", `/etc//hostname`, "clean"},
		{"trailing slash", `/etc/`, "clean"},
		{"root", `/`, "clean"},
		{"long component", "/etc/" + strings.Repeat("n", 256), "255 bytes"},
		{"long path", strings.Repeat("/abcdefgh", 512), "4095 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := base + "  - {path: \"" + tc.path + "\", filesystem: root, contents: {inline: x}}\n"
			_, err := Parse("f.yaml", []byte(plan))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(files path %.40q) = %.300v, want an error containing %q", tc.path, err, tc.want)
			}
		})
	}
	if _, err := Parse("f.yaml", []byte(base+"  - {path: /etc/hostname, filesystem: root, contents: {inline: x}}\n")); err != nil {
		t.Fatalf("Parse(good path) = %v", err)
	}
}
