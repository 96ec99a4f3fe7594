package install

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/modules"
)

// Receipt binds together what put this OS on this box: the image (its
// manifest's digest), the plan and who signed it, every driver decision
// and loaded module, the RAID tools, the disks and the images written. The
// files stage writes it to /var/log/needle/receipt.json of the installed
// system and sends it as an event, so an auditor can tell exactly what
// installed a machine.
type Receipt struct {
	// Manifest is "sha256:…" of the image's /etc/needle/manifest.json, or
	// "missing: …" for an image built without one.
	Manifest string          `json:"manifest"`
	Kernel   string          `json:"kernel"`
	Plan     ReceiptPlan     `json:"plan"`
	Modules  []ReceiptModule `json:"modules"`
	Tools    []ReceiptTool   `json:"raid_tools"`
	Disks    []ReceiptDisk   `json:"disks"`
	Images   []ReceiptImage  `json:"images"`
}

// ReceiptPlan is the plan as fetched.
type ReceiptPlan struct {
	URL    string `json:"url"`
	Digest string `json:"digest"` // sha256:… of the plan's bytes
	Signer string `json:"signer"` // the key that verified it, or "unsigned"
}

// ReceiptModule is one coldplug decision and what the kernel says of the
// module it loaded.
type ReceiptModule struct {
	Device     string `json:"device"`
	Rule       string `json:"rule,omitempty"` // the hwdb rule (file:line), empty for the alias match
	Module     string `json:"module"`
	Overlay    bool   `json:"overlay"`
	Outcome    string `json:"outcome"`
	Version    string `json:"version,omitempty"`    // /sys/module/M/version
	Srcversion string `json:"srcversion,omitempty"` // /sys/module/M/srcversion
}

// ReceiptTool is a RAID vendor tool the raid stage ran.
type ReceiptTool struct {
	Controller  string `json:"controller"` // PCI address
	Tool        string `json:"tool"`
	ToolVersion string `json:"tool_version,omitempty"` // as the tool prints it
	Binary      string `json:"binary,omitempty"`
	SHA256      string `json:"sha256,omitempty"` // of the binary
	Model       string `json:"model,omitempty"`
	Firmware    string `json:"firmware,omitempty"`
}

// ReceiptDisk is a disk the plan selected.
type ReceiptDisk struct {
	ID     string `json:"id"` // the plan's disk id
	Name   string `json:"name"`
	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
	WWN    string `json:"wwn,omitempty"`
	Size   uint64 `json:"size"`
}

// ReceiptImage is an image written, with the digest it was verified
// against while streaming.
type ReceiptImage struct {
	Target string `json:"target"` // disk id, or disk id/partition name
	URL    string `json:"url"`
	Digest string `json:"digest"` // sha256:… or sha512:…
}

// receiptInputs is everything the receipt is made of, passed explicitly.
type receiptInputs struct {
	manifest  []byte // /etc/needle/manifest.json, nil when missing
	missing   error
	kernel    string
	planURL   string
	planBytes []byte
	signer    string
	coldplug  modules.Report
	sysRoot   string // for /sys/module/M/{version,srcversion}
	raid      []*raid.Applied
	binaries  map[string]string // tool → binary path
	validated *plan.Validated
}

func buildReceipt(in receiptInputs) Receipt {
	r := Receipt{Kernel: in.kernel, Modules: []ReceiptModule{}, Tools: []ReceiptTool{}, Disks: []ReceiptDisk{}, Images: []ReceiptImage{}}
	if in.manifest != nil {
		r.Manifest = manifest.Sum(in.manifest)
	} else {
		r.Manifest = fmt.Sprintf("missing: %v", in.missing)
	}
	r.Plan = ReceiptPlan{URL: in.planURL, Digest: digest(in.planBytes), Signer: in.signer}
	if r.Plan.Signer == "" {
		r.Plan.Signer = "unsigned"
	}
	for _, x := range in.coldplug.Results {
		if x.Module == "" {
			continue
		}
		rm := ReceiptModule{Device: x.Device, Rule: x.Rule, Module: x.Module, Overlay: x.Overlay, Outcome: x.Outcome}
		dir := filepath.Join(in.sysRoot, "module", modules.Normalize(x.Module))
		rm.Version = readTrim(filepath.Join(dir, "version"))
		rm.Srcversion = readTrim(filepath.Join(dir, "srcversion"))
		r.Modules = append(r.Modules, rm)
	}
	for _, a := range in.raid {
		res := a.After
		if res == nil {
			res = a.Before
		}
		t := ReceiptTool{Controller: a.Controller.PCIAddress, Model: a.Controller.Model, Firmware: a.Controller.Firmware}
		if res != nil {
			t.Tool, t.ToolVersion = res.Tool, res.ToolVersion
		}
		if bin := in.binaries[t.Tool]; bin != "" {
			t.Binary = bin
			if b, err := os.ReadFile(bin); err == nil {
				t.SHA256 = digest(b)
			}
		}
		r.Tools = append(r.Tools, t)
	}
	if v := in.validated; v != nil {
		for _, s := range v.Disks {
			if s.Disk != nil {
				r.Disks = append(r.Disks, ReceiptDisk{ID: s.ID, Name: s.Disk.Name, Model: s.Disk.Model, Serial: s.Disk.Serial, WWN: s.Disk.WWN, Size: s.Disk.Size})
			}
		}
		for _, d := range v.Plan.Disks {
			if d.Image != nil {
				r.Images = append(r.Images, receiptImage(d.ID, d.Image))
			}
			for _, p := range d.Partitions {
				if p.Image != nil {
					r.Images = append(r.Images, receiptImage(d.ID+"/"+p.Name, p.Image))
				}
			}
		}
	}
	sort.SliceStable(r.Modules, func(i, j int) bool { return r.Modules[i].Device < r.Modules[j].Device })
	return r
}

func receiptImage(target string, im *plan.Image) ReceiptImage {
	d := "sha256:" + strings.ToLower(im.SHA256)
	if im.SHA256 == "" {
		d = "sha512:" + strings.ToLower(im.SHA512)
	}
	return ReceiptImage{Target: target, URL: im.URL, Digest: d}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// writeReceipt writes receipt.json into dir (/var/log/needle of the
// installed root) and reports it as an event.
func (m *Machine) writeReceipt(dir string) error {
	in := receiptInputs{kernel: m.KernelRelease, planURL: m.PlanURL, planBytes: m.PlanBytes, signer: m.PlanSigner,
		coldplug: m.Coldplug, sysRoot: m.Root.Sys, raid: m.raidApplied, validated: m.Validated, binaries: map[string]string{}}
	in.manifest, in.missing = os.ReadFile(m.config("manifest.json"))
	for _, a := range m.raidApplied {
		for _, res := range []*raid.Result{a.Before, a.After} {
			if res != nil {
				if p, err := exec.LookPath(res.Tool); err == nil {
					in.binaries[res.Tool] = p
				}
			}
		}
	}
	r := buildReceipt(in)
	js, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "receipt.json"), append(js, '\n'), 0o644, 0, 0); err != nil {
		return fmt.Errorf("/var/log/needle/receipt.json: %w", err)
	}
	m.Report.Emit(report.Event{Stage: "files", Kind: report.Info,
		Message: fmt.Sprintf("receipt: image manifest %s, plan %s (%s), %d modules, %d raid tools, %d disks, %d images",
			r.Manifest, r.Plan.Digest, r.Plan.Signer, len(r.Modules), len(r.Tools), len(r.Disks), len(r.Images)),
		Data: map[string]any{"receipt": r}})
	return nil
}
