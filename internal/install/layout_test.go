package install

import (
	"fmt"
	"testing"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/plan"
)

// TestPlanLayoutMatchesPlace holds the two placements together: the plan's
// dry run (plan.Disk.Layout, what `needle plan check` prints and validation
// fits) and disk.Place (what the disks stage writes) must put every
// partition at the same bytes, or the operator approves one layout and gets
// another.
func TestPlanLayoutMatchesPlace(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	layouts := map[string][]string{
		"esp-root":      {"512MiB", "rest"},
		"esp-root-swap": {"512MiB", "rest", "10%"},
		"percentages":   {"33%", "33%", "33%"},
		"all":           {"100%"},
		"decimal-units": {"100MB", "1GB", "rest"},
		"rest-first":    {"rest", "1GiB"},
		"odd-fixed":     {"1000B", "3MiB", "25%", "rest"},
		"fixed-only":    {"64MiB", "2GiB"},
		"half-and-rest": {"50%", "rest"},
		"many-small":    {"1MiB", "1MiB", "1MiB", "rest"},
	}
	sizes := []uint64{64 * MiB, 4 * GiB, 4*GiB + 100<<10, 4*GiB + 4095, 20 * GiB, 1e12, 480103981056, 3 << 40}
	for name, ls := range layouts {
		for _, table := range []string{"gpt", "mbr"} {
			for _, sector := range []int{512, 4096} {
				for _, size := range sizes {
					t.Run(fmt.Sprintf("%s/%s/%d/%d", name, table, sector, size), func(t *testing.T) {
						pd := &plan.Disk{ID: "os", Table: table}
						for i, s := range ls {
							spec, err := plan.ParseSize(s, false)
							if err != nil {
								t.Fatal(err)
							}
							pd.Partitions = append(pd.Partitions, plan.Partition{
								Name: fmt.Sprintf("p%d", i+1), Type: "linux", Size: s, SizeSpec: spec})
						}
						ext, perr := pd.Layout(size, sector)
						pl, derr := disk.Place(diskLayout(pd), int64(size), sector, "agree", "os")
						if (perr == nil) != (derr == nil) {
							t.Fatalf("plan says %v, disk says %v", perr, derr)
						}
						if perr != nil {
							return
						}
						if len(ext) != len(pl.Partitions) {
							t.Fatalf("plan places %d partitions, disk %d", len(ext), len(pl.Partitions))
						}
						for i, e := range ext {
							p := pl.Partitions[i]
							if int64(e.Start) != p.Start || int64(e.Size) != p.Size {
								t.Errorf("%s: plan %d+%d, disk %d+%d", e.Name, e.Start, e.Size, p.Start, p.Size)
							}
						}
					})
				}
			}
		}
	}
}
