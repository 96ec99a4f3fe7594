package install

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/needle-boot/needle/internal/fetch"
	"github.com/needle-boot/needle/internal/plan"
)

// fetchPlan gets the plan: the one baked into the image (USB and ISO boots)
// wins; otherwise needle.plan=URL with ${mac}, ${serial}, ${uuid} and
// ${hostname} substituted. With public keys in the image the plan must
// carry a valid detached signature (PLAN.sig next to it).
func (m *Machine) fetchPlan(ctx context.Context) error {
	var body, sig []byte
	embedded := m.config(PlanFile)
	if m.Medium != nil && m.Medium.PlanPath != "" {
		embedded = m.Medium.PlanPath // the operator carried it: it wins
	}
	switch b, err := os.ReadFile(embedded); {
	case err == nil:
		body, m.PlanURL = b, embedded
		if s, err := os.ReadFile(embedded + ".sig"); err == nil {
			sig = s
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("reading %s: %w", embedded, err)
	case m.Config.Plan == "":
		return fmt.Errorf("no plan: boot with needle.plan=URL, or build the image with --plan FILE")
	default:
		url, err := m.planURL()
		if err != nil {
			return err
		}
		m.PlanURL = url
		m.Report.Infof("plan", "fetching %s", url)
		c := m.fetcher()
		if body, err = c.Get(ctx, url); err != nil {
			return err
		}
		if m.hasKeys() {
			s, err := c.Get(ctx, url+".sig")
			var fe *fetch.Error
			if err != nil && !(errors.As(err, &fe) && fe.Kind == fetch.NotFound) {
				return fmt.Errorf("plan signature: %w", err)
			}
			sig = s
		}
	}
	keys, err := m.planKeys()
	if err != nil {
		return err
	}
	signer := ""
	if i, err := plan.VerifySignature(body, sig, keys); err != nil {
		return fmt.Errorf("plan %s: %w", m.PlanURL, err)
	} else if i >= 0 {
		m.Report.Infof("plan", "signature verified with key %d of %s", i+1, m.config(PlanKeys))
		signer = planSigner(m.config(PlanKeys), i, keys[i])
	}
	p, err := plan.Parse(m.PlanURL, body)
	if err != nil {
		return err
	}
	m.PlanBytes, m.Plan, m.PlanSigner = body, p, signer
	_ = os.WriteFile(m.run("plan.yaml"), body, 0o644)
	return nil
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

// planURL expands the needle.plan template with what the machine knows.
func (m *Machine) planURL() (string, error) {
	url, err := m.expand(m.Config.Plan)
	if err != nil {
		return "", fmt.Errorf("needle.plan=%s: %w", m.Config.Plan, err)
	}
	return url, nil
}

// expand substitutes ${mac}, ${serial}, ${uuid} and ${hostname} in a URL.
func (m *Machine) expand(tmpl string) (string, error) {
	mac := m.Config.BootIF
	if mac == nil {
		mac = m.MAC
	}
	var serial, uuid string
	if m.Inventory != nil {
		serial, uuid = m.Inventory.DMI.ProductSerial, m.Inventory.DMI.ProductUUID
	}
	return plan.ExpandURL(tmpl, plan.URLVars(mac, serial, uuid, m.Hostname))
}

// validatePlan checks the plan against the inventory and prints what it
// would erase. Nothing destructive runs before this step has passed.
func (m *Machine) validatePlan(ctx context.Context) error {
	if m.Tools == nil {
		m.Tools = toolsInImage()
	}
	v, err := plan.Validate(m.Plan, m.Inventory, plan.Options{BootDevices: m.BootDevices, Tools: m.Tools, ToolFor: m.toolFor})
	if err != nil {
		return err
	}
	m.Validated = v
	var b bytes.Buffer
	if err := v.WriteReport(&b); err != nil {
		return err
	}
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		m.Report.Infof("plan", "%s", l)
	}
	return nil
}
