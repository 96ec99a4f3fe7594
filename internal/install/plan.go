package install

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/fetch"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
)

// fetchPlan gets the plan: the one baked into the image (USB and ISO boots)
// wins; otherwise needle.plan=URL with ${mac}, ${serial}, ${uuid} and
// ${hostname} substituted. With public keys in the image the plan must
// carry a valid detached signature (PLAN.sig next to it).
func (m *Machine) fetchPlan(ctx context.Context, inv *inventory.Inventory, mods *Modules, netw *Network) (*Planned, error) {
	var body, sig []byte
	pl := &Planned{}
	embedded := m.config(PlanFile)
	if mods.Medium != nil && mods.Medium.PlanPath != "" {
		embedded = mods.Medium.PlanPath // the operator carried it: it wins
	}
	switch b, err := plan.ReadFile(ctx, embedded); {
	case err == nil:
		body, pl.URL = b, embedded
		if s, err := os.ReadFile(embedded + ".sig"); err == nil {
			sig = s
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("reading %s: %w", embedded, err)
	case m.Config.Plan == "":
		return nil, fmt.Errorf("no plan: boot with needle.plan=URL, or build the image with --plan FILE")
	default:
		url, err := m.expand(m.Config.Plan, inv, netw)
		if err != nil {
			return nil, fmt.Errorf("needle.plan=%s: %w", m.Config.Plan, err)
		}
		pl.URL = url
		m.Report.Infof("plan", "fetching %s", url)
		c := m.fetcher()
		c.MaxBytes = plan.MaxSize // and its signature, 64 bytes
		if body, err = c.Get(ctx, url); err != nil {
			return nil, err
		}
		if m.hasKeys() {
			s, err := c.Get(ctx, url+".sig")
			var fe *fetch.Error
			if err != nil && !(errors.As(err, &fe) && fe.Kind == fetch.NotFound) {
				return nil, fmt.Errorf("plan signature: %w", err)
			}
			sig = s
		}
	}
	keys, err := m.planKeys()
	if err != nil {
		return nil, err
	}
	if i, err := plan.VerifySignature(body, sig, keys); err != nil {
		return nil, fmt.Errorf("plan %s: %w", pl.URL, err)
	} else if i >= 0 {
		m.Report.Infof("plan", "signature verified with key %d of %s", i+1, m.config(PlanKeys))
		pl.Signer = planSigner(m.config(PlanKeys), i, keys[i])
	}
	p, err := plan.Parse(pl.URL, body)
	if err != nil {
		return nil, err
	}
	pl.Bytes, pl.Plan = body, p
	_ = os.WriteFile(m.run("plan.yaml"), body, 0o644)
	return pl, nil
}

func (m *Machine) fetcher() *fetch.Client {
	c := fetch.New(m.HTTP)
	c.Log = func(format string, args ...any) { m.Report.Warnf("plan", format, args...) }
	return c
}

func (m *Machine) hasKeys() bool {
	_, err := os.Stat(m.config(PlanKeys))
	return err == nil
}

func (m *Machine) planKeys() ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(m.config(PlanKeys))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return plan.ParsePublicKeys(m.config(PlanKeys), b)
}

// expand substitutes ${mac}, ${serial}, ${uuid} and ${hostname} in a URL
// (needle.plan=, needle.report=, needle.hwdb=) from what the inventory and
// the network found.
func (m *Machine) expand(tmpl string, inv *inventory.Inventory, netw *Network) (string, error) {
	mac := m.Config.BootIF
	if mac == nil {
		mac = netw.MAC
	}
	var serial, uuid string
	if inv != nil {
		serial, uuid = inv.DMI.ProductSerial, inv.DMI.ProductUUID
	}
	return plan.ExpandURL(tmpl, plan.URLVars(mac, serial, uuid, netw.Hostname))
}

// validatePlan checks the plan against the inventory and prints what it
// would erase. Nothing destructive runs before this step has passed.
func (m *Machine) validatePlan(pl *Planned, inv *inventory.Inventory, mods *Modules) error {
	if m.Tools == nil {
		m.Tools = ToolsInImage()
	}
	hosts, err := LoadImageHosts(m.ConfigDir)
	if err != nil {
		return err
	}
	v, err := ValidatePlan(pl.Plan, inv, Validation{DB: mods.HWDB, Kernel: m.KernelRelease, Tools: m.Tools, BootDevices: mods.BootDevices(), ImageHosts: hosts})
	if err != nil {
		return err
	}
	pl.Validated = v
	var b bytes.Buffer
	if err := v.WriteReport(&b); err != nil {
		return err
	}
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		m.Report.Infof("plan", "%s", l)
	}
	return nil
}

// Validation is what a plan is checked against besides the inventory.
type Validation struct {
	DB     *hwdb.DB // names the RAID tool of a controller the plan does not name one for
	Kernel string   // the kernel the hwdb rules are matched for
	// Tools are the RAID tools the image carries; SkipToolCheck leaves
	// their presence unchecked (`needle plan check` without --tools, on a
	// host that does not know the image).
	Tools         []string
	SkipToolCheck bool
	BootDevices   []string // the boot medium's: never erased unless named
	ImageHosts    []string // the only hosts the plan's URLs may name, if any
}

// LoadImageHosts reads the image's allowed image hosts (configDir/
// image-hosts, from needle build --image-host); none when it is absent.
func LoadImageHosts(configDir string) ([]string, error) {
	file := filepath.Join(configDir, ImageHosts)
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return plan.ParseHosts(file, b)
}

// ValidatePlan checks p against inv the one way the boot (plan/validate),
// `needle plan check` and `needle raid apply` all do: disk selection, what
// would be erased, and the tool each controller's entry runs, as the plan
// or else the hwdb names it.
func ValidatePlan(p *plan.Plan, inv *inventory.Inventory, v Validation) (*plan.Validated, error) {
	opt := plan.Options{Tools: v.Tools, SkipToolCheck: v.SkipToolCheck, BootDevices: v.BootDevices, ImageHosts: v.ImageHosts}
	if v.DB != nil {
		opt.ToolFor = raid.HWDBTool(v.DB, inv.DMI, v.Kernel)
	}
	return plan.Validate(p, inv, opt)
}
