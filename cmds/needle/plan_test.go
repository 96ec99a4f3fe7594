package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// planTestdata is internal/plan's testdata: the QEMU inventory (two virtio
// disks of 8 and 16 GiB and a 1 GiB USB stick) and the plans.
var planTestdata = filepath.Join("..", "..", "internal", "plan", "testdata")

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e strings.Builder
	err = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

// TestPlanCheckDryRun: the dry run names the one disk that would be erased
// and leaves the other disk and the USB stick untouched.
func TestPlanCheckDryRun(t *testing.T) {
	inv := filepath.Join(planTestdata, "qemu-inventory.json")
	out, _, err := runCLI(t, "plan", "check", filepath.Join(planTestdata, "qemu.yaml"), "--inventory", inv, "--boot-device", "sda")
	if err != nil {
		t.Fatalf("plan check: %v", err)
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "would erase:") || strings.HasPrefix(l, "untouched:") {
			dev, _, _ := strings.Cut(strings.TrimSpace(l[strings.Index(l, ":")+1:]), " ")
			got = append(got, strings.TrimSpace(l[:strings.Index(l, ":")])+" "+dev)
		}
	}
	want := []string{"would erase /dev/vdb", "untouched /dev/vda", "untouched /dev/sda"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan check dry run (-want +got):\n%s\nfull output:\n%s", diff, out)
	}
}

// TestPlanCheckRefuses: plans that must not reach a disk fail with the
// reason, and the dry run prints nothing that looks like approval.
func TestPlanCheckRefuses(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(planTestdata, "qemu-inventory.json")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, plan string
		want       []string
	}{
		{"two disks match", "version: 1\ndisks:\n  - {id: t, select: {size: {min: 4GiB}}, wipe: true}\nboot: {reboot: {}}\n",
			[]string{"two-disks-match.yaml:3: disk \"t\": select matches 2 disks", "/dev/vda (8.0 GiB", "/dev/vdb (16.0 GiB", "nothing would be touched"}},
		{"unknown field", "version: 1\ndisks:\n  - {id: t, select: {serial: needle-root}, wipe: true, wipes: true}\nboot: {reboot: {}}\n",
			[]string{`unknown-field.yaml:3: unknown field "wipes" in disk`}},
		{"raid tool missing", "version: 1\nraid:\n  - controller: {index: 0, tool: sas2ircu}\n    volumes: [{name: os, level: raid1, count: 2}]\ndisks:\n  - {id: os, select: {raid_volume: os}, wipe: true}\nboot: {reboot: {}}\n",
			[]string{"raid-tool-missing.yaml:3: controller sas2ircu #0 needs sas2ircu, which the image lacks (has: storcli)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tt.name, " ", "-")+".yaml", tt.plan)
			out, _, err := runCLI(t, "plan", "check", "--tools", "storcli", p, "--inventory", inv)
			if err == nil {
				t.Fatalf("plan check succeeded:\n%s", out)
			}
			if strings.Contains(out, "would erase") {
				t.Errorf("a refused plan printed a dry run:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestPlanSignCheck: keygen, sign, then check with the key; a tampered
// plan, a missing signature and another key's signature are refused.
func TestPlanSignCheck(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(planTestdata, "qemu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(planFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(planTestdata, "qemu-inventory.json")
	for _, prefix := range []string{"ops", "other"} {
		if _, _, err := runCLI(t, "plan", "keygen", "--out", filepath.Join(dir, prefix)); err != nil {
			t.Fatalf("keygen %s: %v", prefix, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "ops.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ops.key: %v, mode %v; want mode 0600", err, st.Mode())
	}
	if _, _, err := runCLI(t, "plan", "keygen", "--out", filepath.Join(dir, "ops")); err == nil || !strings.Contains(err.Error(), "exists; not overwriting") {
		t.Errorf("keygen over an existing key = %v, want a refusal", err)
	}
	pub := filepath.Join(dir, "ops.pub")

	// Unsigned: refused once a key is configured.
	_, _, err = runCLI(t, "plan", "check", planFile, "--inventory", inv, "--key", pub)
	if err == nil || !strings.Contains(err.Error(), "plan is unsigned") {
		t.Errorf("unsigned check = %v, want an unsigned refusal", err)
	}
	if _, _, err := runCLI(t, "plan", "sign", "--key", filepath.Join(dir, "ops.key"), planFile); err != nil {
		t.Fatalf("sign: %v", err)
	}
	out, _, err := runCLI(t, "plan", "check", planFile, "--inventory", inv, "--key", pub)
	if err != nil {
		t.Fatalf("signed check: %v", err)
	}
	if !strings.Contains(out, "signature "+planFile+".sig: good") || !strings.Contains(out, "would erase: /dev/vdb") {
		t.Errorf("signed check output lacks the good signature or the dry run:\n%s", out)
	}
	// The wrong key.
	_, _, err = runCLI(t, "plan", "check", planFile, "--key", filepath.Join(dir, "other.pub"))
	if err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("check with another key = %v, want a bad-signature refusal", err)
	}
	// One byte changed after signing.
	if err := os.WriteFile(planFile, append(src, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "plan", "check", planFile, "--key", pub)
	if err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("check of a tampered plan = %v, want a bad-signature refusal", err)
	}
	// Signing an invalid plan is refused.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "plan", "sign", "--key", filepath.Join(dir, "ops.key"), bad); err == nil || !strings.Contains(err.Error(), "not signing") {
		t.Errorf("sign of an invalid plan = %v, want a refusal", err)
	}
}

// TestPlanCheckWipeSteps: a disk whose wipe asks for discard and zero-out
// says so in the dry run, next to the disk it would erase; a plain wipe
// prints no such line.
func TestPlanCheckWipeSteps(t *testing.T) {
	inv := filepath.Join(planTestdata, "qemu-inventory.json")
	p := filepath.Join(t.TempDir(), "zeroout.yaml")
	plan := `version: 1
disks:
  - id: target
    select: {serial: needle-root}
    wipe: {discard: true, zeroout: true}
  - {id: other, select: {serial: needle-small}, wipe: true}
boot: {reboot: {}}
`
	if err := os.WriteFile(p, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "plan", "check", p, "--inventory", inv)
	if err != nil {
		t.Fatalf("plan check: %v", err)
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "disk ") || strings.Contains(l, "whole-disk erase:") {
			got = append(got, strings.TrimSpace(l))
		}
	}
	want := []string{
		"disk target: /dev/vdb",
		"whole-disk erase: discard (BLKDISCARD, advisory), then zero-out (BLKZEROOUT; zero blocks of images are then skipped)",
		"disk other: /dev/vda",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan check (-want +got):\n%s\nfull output:\n%s", diff, out)
	}
}

// TestPlanCheckTooLarge: a plan over the cap is refused naming the file and
// the cap, before YAML sees it.
func TestPlanCheckTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(p, []byte("version: 1\nname: "+strings.Repeat("x", 2<<20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range [][]string{{"plan", "check", p}, {"plan", "sign", "--key", p, p}} {
		_, _, err := runCLI(t, verb...)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "over the 1 MiB cap") || len(err.Error()) > 1024 {
			t.Errorf("%s of a 2 MiB plan = %.300v, want a short refusal naming %s and the cap", strings.Join(verb[:2], " "), err, p)
		}
	}
}

// TestKeyMixups: the mistakes a tired operator makes with keys and files
// are refused before anything is written: a signature written over the
// plan, a public key used to sign, a private key baked into an image or
// given where public keys are read.
func TestKeyMixups(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(planTestdata, "qemu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(planFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "plan", "keygen", "--out", filepath.Join(dir, "ops")); err != nil {
		t.Fatal(err)
	}
	priv, pub := filepath.Join(dir, "ops.key"), filepath.Join(dir, "ops.pub")

	for _, out := range []string{planFile, filepath.Join(dir, ".", "plan.yaml"), priv} {
		_, _, err := runCLI(t, "plan", "sign", "--key", priv, "--out", out, planFile)
		if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
			t.Errorf("plan sign --out %s = %v, want a refusal", out, err)
		}
	}
	if got, _ := os.ReadFile(planFile); string(got) != string(src) {
		t.Fatal("plan sign --out PLAN overwrote the plan")
	}
	if _, _, err := runCLI(t, "plan", "sign", "--key", pub, planFile); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("plan sign --key PUB = %v, want a refusal naming the public key", err)
	}
	if _, err := os.Stat(planFile + ".sig"); err == nil {
		t.Error("plan sign --key PUB wrote a signature")
	}
	if _, _, err := runCLI(t, "plan", "check", planFile, "--key", priv); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("plan check --key PRIV = %v, want a refusal naming the private key", err)
	}
	if _, _, err := runCLI(t, "build", "--plan-key", priv, "--out", filepath.Join(dir, "img.cpio")); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("build --plan-key PRIV = %v, want a refusal naming the private key", err)
	}
}

// TestPlanCheckImageHosts: with allowed image hosts (--image-host, or the
// image's config dir), a plan fetching from another host is refused by
// the dry run, as the boot refuses it.
func TestPlanCheckImageHosts(t *testing.T) {
	planFile := filepath.Join(planTestdata, "qemu.yaml")
	inv := filepath.Join(planTestdata, "qemu-inventory.json")
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "image-hosts"), []byte("prov.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"plan", "check", planFile, "--image-host", "prov.example"},
		{"plan", "check", planFile, "--image-host", "prov.example", "--inventory", inv, "--boot-device", "sda"},
		{"plan", "check", planFile, "--config-dir", conf},
	} {
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "not an allowed image host (prov.example)") {
			t.Errorf("%s = %v, want a refusal naming the allowed hosts", strings.Join(args[2:], " "), err)
		}
	}
	if _, _, err := runCLI(t, "plan", "check", planFile, "--image-host", "10.0.2.2", "--inventory", inv, "--boot-device", "sda"); err != nil {
		t.Errorf("plan check with its own host allowed = %v", err)
	}
	if _, _, err := runCLI(t, "build", "--image-host", "http://prov.example/", "--out", filepath.Join(conf, "x.cpio")); err == nil || !strings.Contains(err.Error(), "not a host") {
		t.Errorf("build --image-host URL = %v, want a refusal", err)
	}
}
