package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
)

const planUsage = `usage:
  needle plan check PLAN [--inventory INV.json] [--tools sas2ircu,storcli] [--boot-device sda]
                         [--key PUB [--sig PLAN.sig]]
  needle plan sign --key PRIV [--out PLAN.sig] PLAN
  needle plan keygen [--out PREFIX]      writes PREFIX.key and PREFIX.pub (default needle-plan)
`

// runPlan dispatches `needle plan check|sign|keygen`.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, planUsage)
		return errors.New("plan: missing subcommand (check, sign or keygen)")
	}
	switch args[0] {
	case "check":
		return planCheck(ctx, args[1:], stdout, stderr)
	case "sign":
		return planSign(ctx, args[1:], stdout, stderr)
	case "keygen":
		return planKeygen(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, planUsage)
		return nil
	}
	fmt.Fprint(stderr, planUsage)
	return fmt.Errorf("plan: unknown subcommand %q", args[0])
}

// parseInterleaved parses flags that may come before or after the
// positional arguments ("check PLAN --inventory X"), which the flag package
// alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func planCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan check", stderr)
	invFile := fs.String("inventory", "", "inventory JSON of the target machine (`needle inventory --json`)")
	var tools, boot listFlag
	fs.Var(&tools, "tools", "RAID tools present in the image, comma-separated; without it tool presence is not checked")
	fs.Var(&boot, "boot-device", "kernel name of a disk or partition holding the boot medium (repeatable)")
	keyFile := fs.String("key", "", "public key file; with it, the plan must carry a valid signature")
	configDir := fs.String("config-dir", "/etc/needle", "the image's config directory: its hwdb.d/ rules name RAID tools with the built-in ones, as at boot")
	kernel := fs.String("kernel", "", "kernel release the hwdb rules are matched for (default: the inventory's)")
	sigFile := fs.String("sig", "", "detached signature (default PLAN.sig)")
	var hosts listFlag
	fs.Var(&hosts, "image-host", "the only hosts the plan's URLs may name, as the image's needle build --image-host (default: --config-dir's image-hosts)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, planUsage)
		return errors.New("plan check: want exactly one PLAN file")
	}
	file := pos[0]
	data, err := plan.ReadFile(ctx, file)
	if err != nil {
		return fmt.Errorf("plan check: %w", err)
	}
	if *sigFile != "" && *keyFile == "" {
		return errors.New("plan check: --sig needs --key to verify against")
	}
	if *keyFile != "" {
		if err := checkSignature(file, data, *keyFile, *sigFile, stdout); err != nil {
			return fmt.Errorf("plan check: %s refused: %w", file, err)
		}
	}
	p, err := plan.Parse(file, data)
	if err != nil {
		return fmt.Errorf("plan check: %s is invalid; nothing would be touched:\n%w", file, err)
	}
	if len(hosts) == 0 {
		if hosts, err = install.LoadImageHosts(*configDir); err != nil {
			return fmt.Errorf("plan check: %w", err)
		}
	} else if hosts, err = plan.ParseHosts("--image-host", []byte(strings.Join(hosts, "\n"))); err != nil {
		return fmt.Errorf("plan check: %w", err)
	}
	if err := plan.CheckHosts(p, hosts); err != nil {
		return fmt.Errorf("plan check: %s names a host the image does not allow; nothing would be touched:\n%w", file, err)
	}
	if *invFile == "" {
		fmt.Fprintf(stdout, "plan %s (%s): schema and references valid; no --inventory given, so no disk was selected\n", p.Name, file)
		return nil
	}
	inv, err := readInventory(*invFile)
	if err != nil {
		return fmt.Errorf("plan check: %w", err)
	}
	db, err := install.LoadHWDB(*configDir)
	if err != nil {
		return fmt.Errorf("plan check: hwdb: %w", err)
	}
	if *kernel == "" {
		*kernel = inv.Kernel
	}
	opt := install.Validation{DB: db, Kernel: *kernel, BootDevices: boot, Tools: tools, SkipToolCheck: !flagGiven(fs, "tools"), ImageHosts: hosts}
	v, err := install.ValidatePlan(p, inv, opt)
	if err != nil {
		return fmt.Errorf("plan check: %s does not fit the machine in %s; nothing would be touched:\n%w", file, *invFile, err)
	}
	if err := v.WriteReport(stdout); err != nil {
		return err
	}
	if opt.SkipToolCheck && len(v.ToolsNeeded) > 0 {
		fmt.Fprintln(stdout, "note: RAID tool presence not checked; pass --tools with the image's tools")
	}
	return nil
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func readInventory(file string) (*inventory.Inventory, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var inv inventory.Inventory
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("inventory %s: %w", file, err)
	}
	return &inv, nil
}

// checkSignature verifies the plan against the keys; a missing signature
// file is an unsigned plan.
func checkSignature(file string, data []byte, keyFile, sigFile string, stdout io.Writer) error {
	kd, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	keys, err := plan.ParsePublicKeys(keyFile, kd)
	if err != nil {
		return err
	}
	if sigFile == "" {
		sigFile = file + ".sig"
	}
	sig, err := os.ReadFile(sigFile)
	if errors.Is(err, fs.ErrNotExist) {
		sig, err = nil, nil
	}
	if err != nil {
		return err
	}
	k, err := plan.VerifySignature(data, sig, keys)
	if err != nil {
		if sig == nil {
			return fmt.Errorf("%w (no %s)", err, sigFile)
		}
		return fmt.Errorf("%s: %w", sigFile, err)
	}
	fmt.Fprintf(stdout, "signature %s: good (key %d of %s)\n", sigFile, k+1, keyFile)
	return nil
}

func planSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan sign", stderr)
	keyFile := fs.String("key", "", "private key file (from needle plan keygen)")
	out := fs.String("out", "", "signature file to write (default PLAN.sig)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *keyFile == "" {
		fmt.Fprint(stderr, planUsage)
		return errors.New("plan sign: want --key PRIV and exactly one PLAN file")
	}
	file := pos[0]
	data, err := plan.ReadFile(ctx, file)
	if err != nil {
		return fmt.Errorf("plan sign: %w", err)
	}
	// Refuse to sign what the ramdisk would refuse to run.
	if _, err := plan.Parse(file, data); err != nil {
		return fmt.Errorf("plan sign: %s is invalid; not signing:\n%w", file, err)
	}
	kd, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("plan sign: %w", err)
	}
	key, err := plan.ParsePrivateKey(*keyFile, kd)
	if err != nil {
		return fmt.Errorf("plan sign: %w", err)
	}
	if *out == "" {
		*out = file + ".sig"
	}
	if err := sigTarget(*out, file, *keyFile); err != nil {
		return fmt.Errorf("plan sign: %w", err)
	}
	if err := os.WriteFile(*out, plan.Sign(key, data), 0o644); err != nil {
		return fmt.Errorf("plan sign: %w", err)
	}
	fmt.Fprintf(stdout, "signed %s -> %s (public key %s)\n", file, *out, pubOf(key))
	return nil
}

// sigTarget refuses a signature path that is the plan or the key (by
// name or as the same file), or an existing file that is not a signature:
// `plan sign --out plan.yaml plan.yaml` must not replace the plan.
func sigTarget(out, planFile, keyFile string) error {
	st, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, f := range []struct{ name, what string }{{planFile, "the plan being signed"}, {keyFile, "the private key"}} {
		if other, err := os.Stat(f.name); err == nil && os.SameFile(st, other) {
			return fmt.Errorf("refusing to overwrite %s: it is %s (--out names the signature file, default PLAN.sig)", out, f.what)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	if !plan.IsSignature(b) {
		return fmt.Errorf("refusing to overwrite %s: it exists and is not a plan signature", out)
	}
	return nil
}

func pubOf(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

func planKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan keygen", stderr)
	prefix := fs.String("out", "needle-plan", "write PREFIX.key (private, mode 0600) and PREFIX.pub")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	priv, pub, err := plan.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("plan keygen: %w", err)
	}
	// Never overwrite a key someone may depend on (O_EXCL below); check both
	// first so a clash does not leave half a pair behind.
	for _, n := range []string{*prefix + ".key", *prefix + ".pub"} {
		if _, err := os.Lstat(n); err == nil {
			return fmt.Errorf("plan keygen: %s exists; not overwriting", n)
		}
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{*prefix + ".key", priv, 0o600}, {*prefix + ".pub", pub, 0o644}} {
		fh, err := os.OpenFile(f.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("plan keygen: %w", err)
		}
		_, werr := fh.Write(f.data)
		if err := errors.Join(werr, fh.Close()); err != nil {
			return fmt.Errorf("plan keygen: %s: %w", f.name, err)
		}
	}
	fmt.Fprintf(stdout, "wrote %s.key (keep secret) and %s.pub (bake in with needle build --plan-key)\n", *prefix, *prefix)
	return nil
}
