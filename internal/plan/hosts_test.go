package plan

import (
	"strings"
	"testing"
)

// TestImageHosts: with an allowlist baked into the image, every URL the
// plan fetches (disk and partition images, file contents) must name an
// allowed host, or validation fails naming the line and the URL.
func TestImageHosts(t *testing.T) {
	const h = "0000000000000000000000000000000000000000000000000000000000000000"
	text := "version: 1\nname: t\ndisks:\n  - id: os\n    select: {serial: needle-root}\n    wipe: true\n    partitions:\n" +
		"      - {name: root, type: linux, size: rest, image: {url: \"http://prov.example:8080/r.img\", sha256: " + h + "}}\n" +
		"files:\n  - {path: /etc/x, filesystem: root, contents: {url: \"https://EVIL.example/x\", sha256: " + h + "}}\n" +
		"boot: {reboot: {}}\n"
	p, err := Parse("h.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	inv := loadInventory(t, "testdata/qemu-inventory.json")
	for _, tc := range []struct {
		hosts []string
		want  []string // error substrings; nil: valid
	}{
		{nil, nil},
		{[]string{"prov.example", "evil.example"}, nil},
		{[]string{"prov.example:8080", "evil.example"}, nil},
		{[]string{"prov.example"}, []string{"h.yaml:10:", `"https://EVIL.example/x"`, "not an allowed image host (prov.example)"}},
		{[]string{"prov.example:80", "evil.example"}, []string{"h.yaml:8:", "prov.example:8080"}},
	} {
		_, err := Validate(p, inv, Options{ImageHosts: tc.hosts, SkipToolCheck: true})
		if tc.want == nil {
			if err != nil {
				t.Errorf("Validate(hosts %v) = %v", tc.hosts, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(hosts %v) = %v, want it to contain %q", tc.hosts, err, w)
			}
		}
	}
}

func TestParseHosts(t *testing.T) {
	got, err := ParseHosts("hosts", []byte("# allowed\nProv.Example\n\nmirror.example:8080  # the cache\n"))
	if err != nil || strings.Join(got, " ") != "prov.example mirror.example:8080" {
		t.Errorf("ParseHosts = %q, %v", got, err)
	}
	for _, bad := range []string{"http://prov.example/\n", "user@prov\n", "prov/x\n"} {
		if _, err := ParseHosts("hosts", []byte(bad)); err == nil || !strings.Contains(err.Error(), "hosts:1:") {
			t.Errorf("ParseHosts(%q) = %v, want an error at hosts:1", bad, err)
		}
	}
}
