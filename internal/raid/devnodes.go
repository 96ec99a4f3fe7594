package raid

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DevNode is a character device a vendor tool opens to reach its driver.
// Drivers that register a misc device get their node from devtmpfs; the
// ones that call register_chrdev(0, …) get a dynamic major and no node at
// all, so the tools (or needle for them) must mknod it from /proc/devices.
type DevNode struct {
	// Path is relative to the /dev root; %d is the controller number for
	// per-controller nodes.
	Path  string
	Tools []string
	// Misc is the name in /proc/misc for misc devices (major 10, Minor
	// fixed); Chrdev the name in /proc/devices for dynamic majors.
	Misc   string
	Chrdev string
	Minor  int
	// Count is how many per-controller nodes to make (minor = number).
	Count int
	// Source is the kernel source the numbers come from.
	Source string
}

// MiscMajor is the misc character device major (include/uapi/linux/major.h).
const MiscMajor = 10

// DevNodes is the table of vendor-tool nodes. hpsa (ssacli) is absent: it
// talks SG_IO through /dev/sg*, which devtmpfs creates with sg loaded.
func DevNodes() []DevNode {
	return []DevNode{
		{Path: "mpt2ctl", Tools: []string{"sas2ircu"}, Misc: "mpt2ctl", Minor: 221,
			Source: "include/linux/miscdevice.h MPT2SAS_MINOR 221; drivers/scsi/mpt3sas/mpt3sas_ctl.h MPT2SAS_DEV_NAME"},
		{Path: "mpt3ctl", Tools: []string{"sas3ircu"}, Misc: "mpt3ctl", Minor: 222,
			Source: "include/linux/miscdevice.h MPT3SAS_MINOR 222; drivers/scsi/mpt3sas/mpt3sas_ctl.h MPT3SAS_DEV_NAME"},
		{Path: "megaraid_sas_ioctl_node", Tools: []string{"storcli", "perccli"}, Chrdev: "megaraid_sas_ioctl", Minor: 0,
			Source: `drivers/scsi/megaraid/megaraid_sas_base.c megasas_init: register_chrdev(0, "megaraid_sas_ioctl", …)`},
		{Path: "aac%d", Tools: []string{"arcconf"}, Chrdev: "aac", Count: 8,
			Source: `drivers/scsi/aacraid/linit.c aac_init_char: register_chrdev(0, "aac", …); minor = controller number`},
		{Path: "twa%d", Tools: []string{"tw_cli"}, Chrdev: "twa", Count: 8,
			Source: `drivers/scsi/3w-9xxx.c twa_probe: register_chrdev(0, "twa", …); minor = controller number`},
		{Path: "twl%d", Tools: []string{"tw_cli"}, Chrdev: "twl", Count: 8,
			Source: `drivers/scsi/3w-sas.c twl_probe: register_chrdev(0, "twl", …); minor = controller number`},
	}
}

// Mknod is the mknod(2) seam: path, mode (S_IFCHR|perm), major, minor.
type Mknod func(path string, mode uint32, major, minor uint32) error

// sIFCHR is S_IFCHR from sys/stat.h.
const sIFCHR = 0o020000

// NodeToMake is one node EnsureNodes would create.
type NodeToMake struct {
	Path         string
	Major, Minor uint32
}

// NodesFor lists the nodes whose driver is registered according to
// procRoot's devices and misc files.
func NodesFor(devRoot, procRoot string) ([]NodeToMake, error) {
	chr, err := readProcDevices(filepath.Join(procRoot, "devices"))
	if err != nil {
		return nil, err
	}
	misc, err := readProcMisc(filepath.Join(procRoot, "misc"))
	if err != nil {
		return nil, err
	}
	var out []NodeToMake
	for _, n := range DevNodes() {
		switch {
		case n.Misc != "":
			minor, ok := misc[n.Misc]
			if !ok {
				continue
			}
			out = append(out, NodeToMake{Path: filepath.Join(devRoot, n.Path), Major: MiscMajor, Minor: minor})
		case n.Chrdev != "":
			major, ok := chr[n.Chrdev]
			if !ok {
				continue
			}
			if n.Count == 0 {
				out = append(out, NodeToMake{Path: filepath.Join(devRoot, n.Path), Major: major, Minor: uint32(n.Minor)})
				continue
			}
			for i := 0; i < n.Count; i++ {
				out = append(out, NodeToMake{Path: filepath.Join(devRoot, fmt.Sprintf(n.Path, i)), Major: major, Minor: uint32(i)})
			}
		}
	}
	return out, nil
}

// EnsureNodes creates the vendor-tool nodes whose driver is loaded (see
// NodesFor) and are missing under devRoot. An existing node is left alone:
// devtmpfs made it, or an earlier run did.
func EnsureNodes(devRoot, procRoot string, mknod Mknod) error {
	nodes, err := NodesFor(devRoot, procRoot)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nodes {
		if _, err := os.Lstat(n.Path); err == nil {
			continue
		}
		if err := mknod(n.Path, sIFCHR|0o600, n.Major, n.Minor); err != nil {
			errs = append(errs, fmt.Errorf("mknod %s c %d %d: %w", n.Path, n.Major, n.Minor, err))
		}
	}
	return errors.Join(errs...)
}

// readProcDevices reads the "Character devices:" section of /proc/devices
// ("243 megaraid_sas_ioctl").
func readProcDevices(path string) (map[string]uint32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]uint32{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "Character devices:":
			in = true
			continue
		case strings.HasSuffix(line, "devices:"):
			in = false
			continue
		}
		f := strings.Fields(line)
		if !in || len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
			out[f[1]] = uint32(n)
		}
	}
	return out, nil
}

// readProcMisc reads /proc/misc ("221 mpt2ctl"); a missing file (misc
// support not built) is no misc devices.
func readProcMisc(path string) (map[string]uint32, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]uint32{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]uint32{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
			out[f[1]] = uint32(n)
		}
	}
	return out, nil
}
