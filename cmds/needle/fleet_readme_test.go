//go:build !ramdisk

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/testenv"
)

// TestFleetNginxConfInReadme: the README shows the benchmark's nginx
// configuration verbatim, so there is one source of truth.
func TestFleetNginxConfInReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```nginx\n"+fleetNginxConf+"```\n") {
		t.Errorf("README.md does not show cmds/needle/fleet-nginx.conf.tmpl verbatim in an nginx code block")
	}
	conf, err := nginxConf(nginxConfData{Prefix: "/p", Root: "/p/www", Listen: "127.0.0.1:1", Workers: 2, PlanRate: 200, PlanBurst: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pid /p/nginx.pid;", "listen 127.0.0.1:1;", "if (-f /p/plans-down)", "rate=200r/s"} {
		if !strings.Contains(conf, want) {
			t.Errorf("rendered configuration lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "user ") {
		t.Errorf("rendered configuration names a user without User set")
	}
}
