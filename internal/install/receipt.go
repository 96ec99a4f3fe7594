package install

import (
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/modules"
)

// ReceiptFile is where the files stage writes the receipt, under the
// installed system's root filesystem.
const ReceiptFile = "var/log/needle/receipt.json"

// Receipt binds together what put this OS on this box, so that an auditor
// can tell from the installed system alone which image, plan, drivers,
// tools, disks and OS images did it. The files stage writes it to
// /var/log/needle/receipt.json of the installed root and emits it as an
// event (stage files, message "receipt: …", data {"receipt": …}).
//
// The JSON field names are stable; a field is added, never renamed, and
// Format changes if a meaning ever does. Lists are sorted (modules by
// name, hwdb decisions by device, the rest in plan order), so the same
// install gives the same receipt.
//
//	{
//	  "format": 1,
//	  "kernel": "6.1.0-57-amd64",
//	  "manifest": "sha256:…",                 // or "missing", with manifest_error
//	  "plan": {"url": "http://…/plan.yaml", "digest": "sha256:…",
//	           "signer": "unsigned"},         // or "ed25519:BASE64KEY (key 1 of /etc/needle/plan-keys.pub)"
//	  "hwdb": [{"device": "0000:00:03.0", "rule": "/etc/needle/hwdb.d/x.yaml:11",
//	            "rule_name": "…", "module": "megaraid_sas", "overlay": true, "outcome": "loaded"},
//	           {"device": "0000:00:03.0", "rule": "…", "rule_name": "…", "raid_tool": "storcli"}],
//	  "modules": [{"module": "megaraid_sas", "version": "…", "srcversion": "…",
//	               "overlay": true, "rule": "…", "devices": ["0000:00:03.0"], "outcome": "loaded"}],
//	  "raid_tools": [{"controller": "0000:00:03.0", "tool": "storcli", "tool_version": "…",
//	                  "binary": "/bin/storcli", "sha256": "sha256:…", "rule": "…", "model": "…", "firmware": "…"}],
//	  "disks": [{"id": "os", "name": "sda", "model": "…", "serial": "…", "wwn": "…", "size": 4294967296}],
//	  "images": [{"target": "os/root", "url": "http://…", "algorithm": "sha256", "digest": "sha256:…"}]
//	}
type Receipt struct {
	Format int    `json:"format"` // 1
	Kernel string `json:"kernel"` // the running kernel's release
	// Manifest is "sha256:…" of the running image's
	// /etc/needle/manifest.json, or "missing" (ManifestError says why)
	// for an image built without one.
	Manifest      string          `json:"manifest"`
	ManifestError string          `json:"manifest_error,omitempty"`
	Plan          ReceiptPlan     `json:"plan"`
	HWDB          []ReceiptRule   `json:"hwdb"`
	Modules       []ReceiptModule `json:"modules"`
	Tools         []ReceiptTool   `json:"raid_tools"`
	Disks         []ReceiptDisk   `json:"disks"`
	Images        []ReceiptImage  `json:"images"`
}

// ReceiptPlan is the plan as fetched.
type ReceiptPlan struct {
	URL    string `json:"url"`    // where it came from (a URL, or the image's or stick's file)
	Digest string `json:"digest"` // sha256:… of the plan's bytes as fetched
	// Signer is "unsigned", or the key that verified the detached
	// signature: "ed25519:BASE64 (key N of FILE)", the key as the key
	// file spells it.
	Signer string `json:"signer"`
}

// ReceiptRule is one hwdb decision: a rule decided a device's driver (the
// modules stage) or a controller's RAID tool (the raid stage).
type ReceiptRule struct {
	Device   string `json:"device"`              // PCI address (or the sysfs name of another device)
	Rule     string `json:"rule"`                // file:line
	RuleName string `json:"rule_name,omitempty"` // the rule's name
	Module   string `json:"module,omitempty"`
	Overlay  bool   `json:"overlay,omitempty"`
	Outcome  string `json:"outcome,omitempty"` // of the module load, as coldplug reported it
	RAIDTool string `json:"raid_tool,omitempty"`
}

// ReceiptModule is a kernel module of this boot: every module loaded when
// the receipt was made (/proc/modules), plus those coldplug tried and did
// not load. Version and Srcversion are what the running kernel says
// (/sys/module/NAME/{version,srcversion}); the manifest has the same
// fields for each file of the image, so the two can be compared.
type ReceiptModule struct {
	Module     string   `json:"module"`
	Version    string   `json:"version,omitempty"`
	Srcversion string   `json:"srcversion,omitempty"`
	Overlay    bool     `json:"overlay"`           // loaded from lib/modules/KVER/updates/
	Rule       string   `json:"rule,omitempty"`    // the hwdb rule that chose it (file:line)
	Devices    []string `json:"devices,omitempty"` // the devices coldplug loaded it for
	// Outcome is "loaded" for a module in /proc/modules, else coldplug's
	// outcome (failed, builtin, blacklisted, …).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// ReceiptTool is a RAID vendor tool the raid stage ran for a controller.
type ReceiptTool struct {
	Controller  string `json:"controller"` // PCI address
	Tool        string `json:"tool"`       // as the plan or the hwdb named it
	ToolVersion string `json:"tool_version,omitempty"`
	Binary      string `json:"binary,omitempty"` // the program run, found in PATH
	SHA256      string `json:"sha256,omitempty"` // sha256:… of that program
	Rule        string `json:"rule,omitempty"`   // the hwdb rule that named the tool, when the plan did not
	Model       string `json:"model,omitempty"`
	Firmware    string `json:"firmware,omitempty"`
}

// ReceiptDisk is a disk the plan selected, by the identities the
// inventory read.
type ReceiptDisk struct {
	ID     string `json:"id"`   // the plan's disk id
	Name   string `json:"name"` // sda, nvme0n1, …
	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
	WWN    string `json:"wwn,omitempty"`
	Size   uint64 `json:"size"`
}

// ReceiptImage is an image written. Digest is the one the stream was
// verified against while writing (the image stage stops on a mismatch,
// and no receipt is written for a failed install).
type ReceiptImage struct {
	Target    string `json:"target"` // the plan's disk id, or DISK/PARTITION
	URL       string `json:"url"`
	Algorithm string `json:"algorithm"` // sha256 or sha512
	Digest    string `json:"digest"`    // ALGORITHM:hex
}

// receiptInputs is everything a receipt is made of, passed explicitly so
// the builder is a pure function of them and the files it names.
type receiptInputs struct {
	kernel      string
	manifest    []byte // /etc/needle/manifest.json; nil when manifestErr
	manifestErr error
	planURL     string
	planBytes   []byte
	signer      string            // "" for unsigned
	coldplug    []modules.Result  // every coldplug decision
	loaded      map[string]bool   // /proc/modules
	sysRoot     string            // for /sys/module/NAME/{version,srcversion}
	ruleNames   map[string]string // hwdb rule position → name
	raid        []raidRun         // what the raid stage ran
	disks       []plan.Selection  // the plan's disk selections
	planDisks   []plan.Disk       // for the images
}

// raidRun is one raid entry the raid stage applied, with the tool it ran.
type raidRun struct {
	tool    string // as the plan or the hwdb named it
	binary  string // the program's path, "" if not found
	rule    string // the hwdb rule that named the tool, "" when the plan did
	applied *raid.Applied
}

func buildReceipt(in receiptInputs) Receipt {
	r := Receipt{Format: 1, Kernel: in.kernel, HWDB: []ReceiptRule{}, Modules: []ReceiptModule{},
		Tools: []ReceiptTool{}, Disks: []ReceiptDisk{}, Images: []ReceiptImage{}}
	if in.manifestErr == nil {
		r.Manifest = manifest.Sum(in.manifest)
	} else {
		r.Manifest, r.ManifestError = "missing", in.manifestErr.Error()
	}
	r.Plan = ReceiptPlan{URL: in.planURL, Digest: digest(in.planBytes), Signer: cmp.Or(in.signer, "unsigned")}

	mods := map[string]*ReceiptModule{}
	module := func(name string) *ReceiptModule {
		name = modules.Normalize(name)
		if mods[name] == nil {
			mods[name] = &ReceiptModule{Module: name}
		}
		return mods[name]
	}
	for name := range in.loaded {
		module(name)
	}
	for _, x := range in.coldplug {
		dev := filepath.Base(x.Device)
		if x.Rule != "" {
			r.HWDB = append(r.HWDB, ReceiptRule{Device: dev, Rule: x.Rule, RuleName: in.ruleNames[x.Rule],
				Module: x.Module, Overlay: x.Overlay, Outcome: x.Outcome})
		}
		if x.Module == "" {
			continue
		}
		rm := module(x.Module)
		rm.Devices = append(rm.Devices, dev)
		if x.Rule != "" {
			rm.Rule, rm.Overlay = x.Rule, x.Overlay
		}
		// A load that worked wins over a failure for another device.
		if rm.Outcome == "" || rm.Error != "" && x.Error == "" {
			rm.Outcome, rm.Error = x.Outcome, x.Error
		}
	}
	for _, rm := range mods {
		if in.loaded[rm.Module] {
			rm.Outcome, rm.Error = "loaded", ""
		}
		rm.Version, rm.Srcversion = raid.ModuleVersion(in.sysRoot, rm.Module)
		slices.Sort(rm.Devices)
		rm.Devices = slices.Compact(rm.Devices)
		r.Modules = append(r.Modules, *rm)
	}
	slices.SortFunc(r.Modules, func(a, b ReceiptModule) int { return strings.Compare(a.Module, b.Module) })

	for _, run := range in.raid {
		a := run.applied
		t := ReceiptTool{Controller: a.Controller.PCIAddress, Tool: run.tool, Binary: run.binary, Rule: run.rule,
			Model: a.Controller.Model, Firmware: a.Controller.Firmware}
		for _, res := range []*raid.Result{a.After, a.Before} {
			if res != nil && t.ToolVersion == "" {
				t.ToolVersion = res.ToolVersion
			}
		}
		if run.binary != "" {
			if b, err := os.ReadFile(run.binary); err == nil {
				t.SHA256 = digest(b)
			}
		}
		if run.rule != "" {
			r.HWDB = append(r.HWDB, ReceiptRule{Device: t.Controller, Rule: run.rule, RuleName: in.ruleNames[run.rule], RAIDTool: run.tool})
		}
		r.Tools = append(r.Tools, t)
	}
	slices.SortStableFunc(r.HWDB, func(a, b ReceiptRule) int { return strings.Compare(a.Device, b.Device) })

	for _, s := range in.disks {
		if d := s.Disk; d != nil {
			r.Disks = append(r.Disks, ReceiptDisk{ID: s.ID, Name: d.Name, Model: d.Model, Serial: d.Serial, WWN: d.WWN, Size: d.Size})
		}
	}
	for _, d := range in.planDisks {
		if d.Image != nil {
			r.Images = append(r.Images, receiptImage(d.ID, d.Image))
		}
		for _, p := range d.Partitions {
			if p.Image != nil {
				r.Images = append(r.Images, receiptImage(d.ID+"/"+p.Name, p.Image))
			}
		}
	}
	return r
}

// receiptImage names the digest the image stage verified: sha512 when
// the plan gives one, else sha256 (image stage, streamImages).
func receiptImage(target string, im *plan.Image) ReceiptImage {
	alg, sum := "sha256", im.SHA256
	if im.SHA512 != "" {
		alg, sum = "sha512", im.SHA512
	}
	sum = strings.ToLower(sum)
	return ReceiptImage{Target: target, URL: im.URL, Algorithm: alg, Digest: alg + ":" + sum}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// planSigner names the key that verified a plan: the key as the key
// file spells it (standard base64), its position and the file.
func planSigner(keyFile string, i int, key ed25519.PublicKey) string {
	return fmt.Sprintf("ed25519:%s (key %d of %s)", base64.StdEncoding.EncodeToString(key), i+1, keyFile)
}

// ruleNames maps each rule's position (file:line, as decisions name it)
// to its name.
func ruleNames(db *hwdb.DB) map[string]string {
	out := map[string]string{}
	if db != nil {
		for _, r := range db.Rules() {
			out[r.Pos()] = r.Name
		}
	}
	return out
}

// raidRuns pairs each raid entry the raid stage applied with the tool it
// ran: the plan's, else the one the hwdb names for the controller (the
// decision raid.HWDBTool makes for ApplyPlan), and the rule that named it.
func (m *Machine) raidRuns(in installed) []raidRun {
	var out []raidRun
	for i, a := range in.vols.Applied {
		if i >= len(in.plan.Plan.RAID) {
			break
		}
		c := in.plan.Plan.RAID[i].Controller
		run := raidRun{tool: c.Tool, applied: a}
		if db := in.mods.HWDB; run.tool == "" && db != nil && in.inv != nil {
			for _, dev := range in.inv.PCI {
				if dev.Addr == c.PCI {
					if d, ok := db.Decide(dev, in.inv.DMI, m.KernelRelease); ok {
						run.tool, run.rule = d.RAIDTool, d.Rule
					}
				}
			}
		}
		if d, err := raid.NewDriver(run.tool, "", nil); err == nil {
			if p, err := exec.LookPath(d.Binary()); err == nil {
				run.binary = p
			}
		}
		out = append(out, run)
	}
	return out
}

// receipt gathers the inputs from what the stages left and builds the
// receipt.
func (m *Machine) receipt(st installed) Receipt {
	in := receiptInputs{kernel: m.KernelRelease, planURL: st.plan.URL, planBytes: st.plan.Bytes, signer: st.plan.Signer,
		coldplug: st.mods.Coldplug.Results, sysRoot: m.Root.Sys, ruleNames: ruleNames(st.mods.HWDB), raid: m.raidRuns(st)}
	in.manifest, in.manifestErr = os.ReadFile(m.config("manifest.json"))
	if errors.Is(in.manifestErr, os.ErrNotExist) {
		in.manifestErr = fmt.Errorf("%s: not in this image (built without a manifest)", m.config("manifest.json"))
	}
	if loaded, err := modules.ReadProcModules(m.Root.Proc); err == nil {
		in.loaded = loaded
	} else {
		m.Report.Warnf("files", "receipt: %v; the receipt lists coldplug's modules only", err)
	}
	if st.plan.Validated != nil {
		in.disks = st.plan.Validated.Disks
	}
	if st.plan.Plan != nil {
		in.planDisks = st.plan.Plan.Disks
	}
	return buildReceipt(in)
}

// emitReceipt reports the receipt as an event and returns its JSON for
// receipt.json.
func (m *Machine) emitReceipt(r Receipt) ([]byte, error) {
	js, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	m.Report.Emit(report.Event{Stage: "files", Kind: report.Info,
		Message: fmt.Sprintf("receipt: image manifest %s, plan %s (%s), %d hwdb decisions, %d modules, %d raid tools, %d disks, %d images",
			r.Manifest, r.Plan.Digest, r.Plan.Signer, len(r.HWDB), len(r.Modules), len(r.Tools), len(r.Disks), len(r.Images)),
		Data: map[string]any{"receipt": r}})
	return append(js, '\n'), nil
}
