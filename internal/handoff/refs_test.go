package handoff

import (
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	refs := Refs{
		"partuuid:root": "6c0e7e5a-03",
		"uuid:root":     "2f9c1f4e-5a4b-4c0b-9d59-3d3e0a8b6c11",
		"uuid:swap":     "7d1e2c55-0f0a-4a8e-9f4c-5b7f36e3b2a0",
		"label:data":    "DATA",
	}
	tests := []struct {
		name, in, want string
		wantErrs       []string
	}{
		{name: "all kinds", in: "root=PARTUUID=${partuuid:root} ro resume=UUID=${uuid:swap} data=LABEL=${label:data}",
			want: "root=PARTUUID=6c0e7e5a-03 ro resume=UUID=7d1e2c55-0f0a-4a8e-9f4c-5b7f36e3b2a0 data=LABEL=DATA"},
		{name: "nothing to do", in: "root=/dev/sda2 ro $notours", want: "root=/dev/sda2 ro $notours"},
		{name: "adjacent", in: "${uuid:root}${partuuid:root}", want: "2f9c1f4e-5a4b-4c0b-9d59-3d3e0a8b6c11" + "6c0e7e5a-03"},
		{name: "unknown name", in: "root=PARTUUID=${partuuid:rootfs} ro",
			wantErrs: []string{"${partuuid:rootfs}: no partuuid known for \"rootfs\""}},
		{name: "unknown kind", in: "root=${path:root}", wantErrs: []string{`${path:root}: unknown reference kind "path"`}},
		{name: "malformed", in: "root=${root}", wantErrs: []string{"${root}: want ${partuuid:NAME}"}},
		{name: "unterminated", in: "root=${uuid:root", wantErrs: []string{"unterminated ${"}},
		{name: "every error at once", in: "${uuid:a} ${partuuid:b} ${uuid:root}",
			wantErrs: []string{`no uuid known for "a"`, `no partuuid known for "b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Substitute(tc.in, refs)
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("Substitute(%q) = %q, want an error", tc.in, got)
				}
				for _, w := range tc.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Substitute(%q) error = %q, want it to contain %q", tc.in, err, w)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Substitute(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
