package handoff

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// grubResult is what running a grub.cfg picks, for comparison.
type grubResult struct {
	Entry   string
	Kernel  string
	Args    []string
	Initrds []string
}

func runGrub(t *testing.T, cfg string, env map[string]string, files ...string) (grubResult, error) {
	t.Helper()
	script, err := parseGrub(cfg)
	if err != nil {
		return grubResult{}, err
	}
	exists := func(p string) bool {
		for _, f := range files {
			if f == p {
				return true
			}
		}
		return false
	}
	menu, in, err := evalGrub(script, env, "/boot/grub", exists)
	if err != nil {
		return grubResult{}, err
	}
	dflt := menu.dflt
	if dflt == "saved" {
		dflt = env["saved_entry"]
	}
	e, _ := pick(menu.entries, dflt)
	if e == nil {
		return grubResult{}, nil
	}
	b, err := in.boot(e)
	if err != nil {
		return grubResult{}, err
	}
	return grubResult{Entry: entryPath(menu.entries, e), Kernel: b.kernel, Args: b.args, Initrds: b.initrds}, nil
}

func TestGrubScript(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		env   map[string]string
		files []string
		want  grubResult
	}{
		{
			name: "quoting, continuation and comments",
			cfg: `# comment
menuentry "Linux \"quoted\"" 'x' { # a comment after {
	linux /vmlinuz root=/dev/sda1 \
	      "quoted arg with spaces" 'single $novar' esc\ aped # trailing comment
	initrd /a.img \
	       /b.img
}`,
			want: grubResult{Entry: `Linux "quoted"`, Kernel: "/vmlinuz",
				Args: []string{"root=/dev/sda1", "quoted arg with spaces", "single $novar", "esc aped"}, Initrds: []string{"/a.img", "/b.img"}},
		},
		{
			name: "unquoted variable splits, quoted stays one, empty vanishes",
			cfg: `set opts="ro  quiet"
export opts
set empty=
export empty
menuentry 'a' {
	linux ($root)/vmlinuz $opts "$opts" $empty x${empty}y
}`,
			want: grubResult{Entry: "a", Kernel: "/vmlinuz", Args: []string{"ro", "quiet", "ro  quiet", "xy"}},
		},
		{
			name: "an entry sees variables exported after its definition",
			cfg: `menuentry 'a' {
	linux /vmlinuz $late
}
set late=quiet
export late`,
			want: grubResult{Entry: "a", Kernel: "/vmlinuz", Args: []string{"quiet"}},
		},
		{
			name: "only exported variables reach an entry",
			cfg: `set hidden=secret
set shown=visible
export shown
menuentry 'a' {
	linux /vmlinuz h=$hidden s=$shown
}`,
			want: grubResult{Entry: "a", Kernel: "/vmlinuz", Args: []string{"h=", "s=visible"}},
		},
		{
			name: "default by title inside a submenu, one-line entries",
			cfg: `set default='Advanced>Old kernel'
menuentry 'New' { linux /new; }
submenu 'Advanced' {
	menuentry 'New kernel' { linux /new }
	menuentry 'Old kernel' { linux /old ro; initrd /old.img; }
}`,
			want: grubResult{Entry: "Advanced>Old kernel", Kernel: "/old", Args: []string{"ro"}, Initrds: []string{"/old.img"}},
		},
		{
			name: "default by id with --id=, and a submenu default opens it",
			cfg: `set default=adv
menuentry 'New' --id=new { linux /new }
submenu 'Advanced' --id adv {
	menuentry 'Inner' { linux /inner }
}`,
			want: grubResult{Entry: "Advanced>Inner", Kernel: "/inner"},
		},
		{
			name: "saved with grubenv",
			cfg: `load_env
set default=saved
menuentry 'A' { linux /a }
menuentry 'B' { linux /b }`,
			env:  map[string]string{"saved_entry": "B"},
			want: grubResult{Entry: "B", Kernel: "/b"},
		},
		{
			name: "if elif else, test operators and $?",
			cfg: `set n=2
if [ "$n" -eq 1 ]; then set default=0
elif [ "$n" -gt 1 -a -z "$unset" ]; then
  false
  if [ "$?" = 1 ]; then set default=2; fi
else set default=1; fi
menuentry 'A' { linux /a }
menuentry 'B' { linux /b }
menuentry 'C' { linux /c }`,
			want: grubResult{Entry: "C", Kernel: "/c"},
		},
		{
			name: "file tests see the partition",
			cfg: `if [ -s $prefix/grubenv ]; then set default=1; fi
if [ -e /nonexistent ]; then set default=0; fi
menuentry 'A' { linux /a }
menuentry 'B' { linux /b }`,
			files: []string{"/boot/grub/grubenv"},
			want:  grubResult{Entry: "B", Kernel: "/b"},
		},
		{
			name: "functions with positional parameters; loops are skipped",
			cfg: `function mode {
	if [ "${1}" = "keep" ]; then set vt=vt.handoff=7; else set vt=; fi
}
for x in 1 2 3; do set default=9; done
while false; do set default=9; done
menuentry 'A' {
	mode keep
	linux /a $vt
}`,
			want: grubResult{Entry: "A", Kernel: "/a", Args: []string{"vt.handoff=7"}},
		},
		{
			name: "device prefixes are dropped, linuxefi and initrdefi work",
			cfg: `menuentry 'RHEL 7' {
	linuxefi (hd0,gpt2)/vmlinuz-3.10.0 root=/dev/mapper/rhel-root ro
	initrdefi (hd0,gpt2)/initramfs-3.10.0.img
}`,
			want: grubResult{Entry: "RHEL 7", Kernel: "/vmlinuz-3.10.0", Args: []string{"root=/dev/mapper/rhel-root", "ro"}, Initrds: []string{"/initramfs-3.10.0.img"}},
		},
		{
			name: "default out of range falls back to the first entry",
			cfg: `set default=7
menuentry 'A' { linux /a }`,
			want: grubResult{Entry: "A", Kernel: "/a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runGrub(t, tc.cfg, tc.env, tc.files...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGrubSyntaxErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"menuentry 'x' {\n linux /a\n", "line 1: menuentry: { without }"},
		{"echo 'unterminated\n", "line 1: unterminated ' quote"},
		{"\n\necho \"unterminated\n", "line 3: unterminated \" quote"},
		{"if true; then\n echo\n", "line 1: if without fi"},
		{"fi\n", `"fi" without its opening keyword`},
		{"}\n", "} without {"},
		{"echo {\n}\n", `unexpected { after "echo"`},
		{"function { }\n", "function without a name"},
		{strings.Repeat("if true; then\n", 100), "nested deeper than 64"},
	}
	for _, tc := range tests {
		_, err := parseGrub(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseGrub(%q) error = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestGrubRecursionBounded: a function calling itself must end with an
// error, not a stack overflow.
func TestGrubRecursionBounded(t *testing.T) {
	_, err := runGrub(t, "function f { f }\nf\nmenuentry a { linux /a }\n", nil)
	if err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Errorf("recursive function: error = %v, want the step/recursion limit", err)
	}
}
