package qemutest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The bisection proof's TEST DATA: a patch series for `needle bisect`
// against megaraid_sas of linux-source-6.1, on top of the recipe
// testdata/bisect/megaraid_sas (whose own patch breaks the MFI DCMD
// passthrough in megasas_mgmt_ioctl_fw and marks the version
// "-bisectbase"). Every patch is harmless but one, which removes the break;
// optionally one does not build (the next one repairs it) or does not
// apply. The patches are written as git format-patch would, with exact
// line numbers, so they stack without offset or fuzz on the source
// build.lock pins (6.1.192-3; patch(1) finds them by offset on a nearby
// 6.1 release).

// BisectRecipe is the recipe the series applies on top of, relative to
// the repository.
const BisectRecipe = "qemu-test/testdata/bisect/megaraid_sas"

// BisectSeries says what WriteBisectSeries writes.
type BisectSeries struct {
	// Patches is the length of the series, 1 to MaxBisectPatches (the
	// issue asks for a dozen or more).
	Patches int
	// Fix (1..Patches) is the patch that removes the recipe's break: the
	// first candidate whose probe passes.
	Fix int
	// NoBuild (0: none; 1..Patches-1) is a patch that adds a syntax error;
	// the patch after it repairs it, as a series with one broken commit.
	// Its candidate is a skip. NoBuild == Fix makes the fix itself
	// untestable (the bisection then names Fix or Fix+1).
	NoBuild int
	// NoApply (0: none; 1..Patches) is a patch whose context is not in
	// the source. Every candidate from it on includes it, so all of them
	// are skips, the full series among them: bisect build refuses the set.
	NoApply int
}

// MaxBisectPatches is how many places the generator has for harmless
// changes.
const MaxBisectPatches = 24

// bisectAnchors are places at file scope of megaraid_sas_base.c, as the
// recipe's patch leaves it: the 1-based line of ctx[0], and six lines of
// context around the end of a function (ctx[2] is its "}", ctx[3] the
// blank line after it). A harmless change adds a blank line and one
// declaration after the "}".
var bisectAnchors = [MaxBisectPatches]struct {
	line int
	ctx  [6]string
}{
	{412, [6]string{"\t\treturn buffer;", "\t}", "}", "", "/**", "  * megasas_decode_evt: Decode FW AEN event and print critical event"}},
	{588, [6]string{"\t}", "\treturn 0;", "}", "", "/**", " * megasas_check_reset_xscale -\tFor controller reset check"}},
	{728, [6]string{"\t\t\t&(regs)->inbound_queue_port);", "\tspin_unlock_irqrestore(&instance->hba_lock, flags);", "}", "", "/**", " * megasas_check_reset_ppc -\tFor controller reset check"}},
	{869, [6]string{"\t       &(regs)->inbound_low_queue_port);", "\tspin_unlock_irqrestore(&instance->hba_lock, flags);", "}", "", "/**", " * megasas_check_reset_skinny -\tFor controller reset check"}},
	{1008, [6]string{"\t\t\t&(regs)->inbound_queue_port);", "\tspin_unlock_irqrestore(&instance->hba_lock, flags);", "}", "", "/**", " * megasas_adp_reset_gen2 -\tFor controller reset"}},
	{1277, [6]string{"\t}", "\treturn sge_count;", "}", "", "/**", " * megasas_make_sgl64 -\tPrepares 64-bit SGL"}},
	{1664, [6]string{"\t}", "\treturn ret;", "}", "", " /**", " * megasas_dump_pending_frames -\tDumps the frame address of all pending cmds"}},
	{2027, [6]string{"", "\tscsi_change_queue_depth(sdev, device_qd);", "}", "", "/*", " * megasas_set_static_target_properties -"}},
	{2322, [6]string{"\t */", "\tmegasas_check_and_restore_queue_depth(instance);", "}", "", "static void megasas_sriov_heartbeat_handler(struct timer_list *t);", ""}},
	{2717, [6]string{"", "\treturn retval;", "}", "", "/* Handler for SR-IOV heartbeat */", "static void megasas_sriov_heartbeat_handler(struct timer_list *t)"}},
	{2993, [6]string{"\tfor (i = 0; i < (sz / sizeof(u32)); i++)", "\t\tprintk(\"%08x: %08x\\n\", (i * 4), readl(&reg[i]));", "}", "", "/**", " * megasas_dump_fusion_io -\tThis function will print key details"}},
	{3176, [6]string{"", "\treturn 0;", "}", "", "static void megasas_map_queues(struct Scsi_Host *shost)", "{"}},
	{3374, [6]string{"\t}", "\treturn strlen(buf);", "}", "", "static ssize_t", "fw_crash_state_show(struct device *cdev,"}},
	{3454, [6]string{"", "\treturn strlen(buf);", "}", "", "static ssize_t", "dump_system_regs_show(struct device *cdev,"}},
	{3808, [6]string{"\t\tbreak;", "\t}", "}", "", "/**", " * megasas_issue_pending_cmds_again -\tissue all pending cmds"}},
	{4320, [6]string{"\tinstance->frame_dma_pool = NULL;", "\tinstance->sense_dma_pool = NULL;", "}", "", "/**", " * megasas_create_frame_pool -\tCreates DMA pool for cmd frames"}},
	{4860, [6]string{"", "\treturn ret;", "}", "", "/**", " * megasas_ld_list_query -\tReturns FW's ld_list structure"}},
	{5474, [6]string{"", "\treturn ret;", "}", "", "/**", " * megasas_issue_init_mfi -\tInitializes the FW"}},
	{5778, [6]string{"\t\tfree_irq(pci_irq_vector(instance->pdev, 0),", "\t\t\t &instance->irq_context[0]);", "}", "", "/**", " * megasas_setup_jbod_map -\tsetup jbod map for FP seq_number."}},
	{6009, [6]string{"\tif (instance->smp_affinity_enable)", "\t\tmegasas_set_high_iops_queue_affinity_and_hint(instance);", "}", "", "/**", " * megasas_init_fw -\tInitializes the FW"}},
	{6903, [6]string{"\t\t\tle32_to_cpu(eli.newest_seq_num) + 1,", "\t\t\tclass_locale.word);", "}", "", "/**", " * megasas_io_attach -\tAttaches this driver to SCSI mid-layer"}},
	{7188, [6]string{"\t\tmegasas_free_fusion_context(instance);", "\t}", "}", "", "/**", " * megasas_alloc_ctrl_dma_buffers -\tAllocate consistent DMA buffers during"}},
	{7730, [6]string{"", "\tmegasas_return_cmd(instance, cmd);", "}", "", "/**", " * megasas_suspend -\tdriver suspend entry point"}},
	{8138, [6]string{"", "\treturn 0;", "}", "", "/*", " * megasas_mgmt_fasync -\tAsync notifier registration from applications"}},
}

// bisectBreak is the recipe patch's break in megasas_mgmt_ioctl_fw: the
// 1-based line of its first context line, three lines of context, the ten
// lines the fix removes, three lines of context.
var bisectBreak = struct {
	line          int
	before, after [3]string
	removed       [10]string
}{
	line:   8533,
	before: [3]string{"\tif (IS_ERR(ioc))", "\t\treturn PTR_ERR(ioc);", ""},
	removed: [10]string{
		"\t/*",
		"\t * needle test data, a deliberate break: fail every MFI DCMD",
		"\t * passthrough (what storcli sends) with -EIO, as the base of the",
		"\t * bisection QEMU test. A patch of the test's series removes it.",
		"\t */",
		"\tif (ioc->frame.hdr.cmd == MFI_CMD_DCMD) {",
		"\t\tkfree(ioc);",
		"\t\treturn -EIO;",
		"\t}",
		"",
	},
	after: [3]string{"\tinstance = megasas_lookup_instance(ioc->host_no);", "\tif (!instance) {", "\t\terror = -ENODEV;"},
}

const bisectFile = "drivers/scsi/megaraid/megaraid_sas_base.c"

// hunk is one hunk of a patch: at a line of the recipe-patched file (the
// base), lines prefixed ' ', '-' or '+'.
type hunk struct {
	base  int
	lines []string
}

func (h hunk) counts() (old, new int) {
	for _, l := range h.lines {
		switch l[0] {
		case ' ':
			old++
			new++
		case '-':
			old++
		case '+':
			new++
		}
	}
	return old, new
}

// edit is a change a patch made, for the line numbers of later ones: from
// base line pos on, the file is delta lines longer.
type edit struct{ pos, delta int }

// WriteBisectSeries writes the series into dir as NNNN-SUBJECT.patch and
// returns the file names in order.
func WriteBisectSeries(dir string, s BisectSeries) ([]string, error) {
	switch {
	case s.Patches < 1 || s.Patches > MaxBisectPatches:
		return nil, fmt.Errorf("bisect series: %d patches: want 1 to %d", s.Patches, MaxBisectPatches)
	case s.Fix < 1 || s.Fix > s.Patches:
		return nil, fmt.Errorf("bisect series: fix at %d: want 1 to %d", s.Fix, s.Patches)
	case s.NoBuild < 0 || s.NoBuild >= s.Patches:
		return nil, fmt.Errorf("bisect series: no-build at %d: want 0 or 1 to %d (the next patch repairs it)", s.NoBuild, s.Patches-1)
	case s.NoApply < 0 || s.NoApply > s.Patches:
		return nil, fmt.Errorf("bisect series: no-apply at %d: want 0 or 1 to %d", s.NoApply, s.Patches)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var done []edit
	var names []string
	for i := 1; i <= s.Patches; i++ {
		a := bisectAnchors[i-1]
		var hs []hunk
		var subject, body string
		decl := fmt.Sprintf("static const char needle_bisect_change_%d[] __used = \"needle bisect test series: change %d\";", i, i)
		switch {
		case i == s.Fix:
			subject = "scsi: megaraid_sas: pass MFI DCMD frames to the firmware again"
			body = "The fix the bisection must find: remove the deliberate break of the\n" +
				"management ioctl path that the test recipe's patch adds to\n" +
				"megasas_mgmt_ioctl_fw."
			h := hunk{base: bisectBreak.line}
			for _, l := range bisectBreak.before {
				h.lines = append(h.lines, " "+l)
			}
			for _, l := range bisectBreak.removed {
				h.lines = append(h.lines, "-"+l)
			}
			for _, l := range bisectBreak.after {
				h.lines = append(h.lines, " "+l)
			}
			hs = append(hs, h)
			decl = ""
		case i == s.NoBuild:
			subject = fmt.Sprintf("scsi: megaraid_sas: test series change %d (does not build)", i)
			body = "A broken commit in the series: the declaration lacks its semicolon;\nthe next patch repairs it."
			decl = strings.TrimSuffix(decl, ";")
		case i == s.NoApply:
			subject = fmt.Sprintf("scsi: megaraid_sas: test series change %d (does not apply)", i)
			body = "A patch against another tree: its context is not in this source."
		default:
			subject = fmt.Sprintf("scsi: megaraid_sas: test series change %d (harmless)", i)
			body = "A harmless change: one more read-only string in the module, so that\nits bytes and srcversion differ from the previous candidate's."
		}
		if decl != "" {
			ctx := a.ctx
			if i == s.NoApply {
				ctx[2] = "} /* not in megaraid_sas_base.c: this patch does not apply (test data) */"
			}
			hs = append(hs, hunk{base: a.line, lines: []string{
				" " + ctx[0], " " + ctx[1], " " + ctx[2], "+", "+" + decl, " " + ctx[3], " " + ctx[4], " " + ctx[5]}})
		}
		if s.NoBuild != 0 && i == s.NoBuild+1 {
			b := bisectAnchors[s.NoBuild-1]
			broken := fmt.Sprintf("static const char needle_bisect_change_%d[] __used = \"needle bisect test series: change %d\"", s.NoBuild, s.NoBuild)
			hs = append(hs, hunk{base: b.line + 1, lines: []string{
				" " + b.ctx[1], " " + b.ctx[2], " ", "-" + broken, "+" + broken + ";", " " + b.ctx[3], " " + b.ctx[4], " " + b.ctx[5]}})
			body += fmt.Sprintf("\n\nAlso repairs change %d, which did not build.", s.NoBuild)
		}
		sort.Slice(hs, func(x, y int) bool { return hs[x].base < hs[y].base })
		name := fmt.Sprintf("%04d-%s.patch", i, slug(subject))
		text := formatPatch(i, s.Patches, subject, body, hs, done)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
		names = append(names, name)
		for _, h := range hs {
			old, nw := h.counts()
			// The change sits after the hunk's leading context.
			lead := 0
			for lead < len(h.lines) && h.lines[lead][0] == ' ' {
				lead++
			}
			done = append(done, edit{pos: h.base + lead, delta: nw - old})
		}
	}
	return names, nil
}

// formatPatch writes one patch as git format-patch does; done are the
// edits of the patches before it, which move its line numbers.
func formatPatch(i, n int, subject, body string, hs []hunk, done []edit) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From %040x Mon Sep 17 00:00:00 2001\n", i)
	b.WriteString("From: needle test series <bisect@needle.invalid>\n")
	fmt.Fprintf(&b, "Date: Thu, 1 Jan 2026 00:%02d:00 +0000\n", i%60)
	width := len(fmt.Sprint(n))
	fmt.Fprintf(&b, "Subject: [PATCH %0*d/%d] %s\n\n", width, i, n, subject)
	fmt.Fprintf(&b, "%s\n\nTest data written by qemutest.WriteBisectSeries, not a real driver change.\n---\n", body)
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n", bisectFile, bisectFile, bisectFile, bisectFile)
	shift := 0 // of this patch's earlier hunks
	for _, h := range hs {
		start := h.base
		for _, e := range done {
			if e.pos <= h.base {
				start += e.delta
			}
		}
		old, nw := h.counts()
		fmt.Fprintf(&b, "@@ -%d,%d +%d,%d @@\n", start, old, start+shift, nw)
		for _, l := range h.lines {
			b.WriteString(l + "\n")
		}
		shift += nw - old
	}
	b.WriteString("-- \n2.39.5\n\n")
	return b.String()
}

// slug is git format-patch's file name for a subject.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.'
		if !ok {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(r)
		dash = false
	}
	return strings.TrimSuffix(strings.TrimRight(b.String(), "-."), ".")
}
