package install

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/needle-boot/needle/internal/image"
	"github.com/needle-boot/needle/internal/plan"
)

// ImageOptions are the image writer's options for one image: the same for
// the install's image/stream step and for `needle image write` in the
// rescue shell, so a write tried by hand behaves as the install's would.
// size is the target's size (0: unknown), zeroed says it reads back zeros,
// keepGPT is set for partition images (a filesystem, never a disk).
func ImageOptions(size int64, zeroed, keepGPT bool, log *slog.Logger, progress func(image.Progress)) image.Options {
	return image.Options{
		Size: size, Zeroed: zeroed, KeepGPT: keepGPT, Logger: log,
		ProgressInterval: 5 * time.Second,
		Progress:         progress,
	}
}

// ProgressLine is how an image's progress reads on the console: what the
// disk has settled (not what the page cache took), at the disk's own rate,
// and an ETA from what is left to write, which outlasts the fetch on a
// slow disk.
func ProgressLine(name string, p image.Progress) string {
	msg := fmt.Sprintf("%s: %s written, %s on disk", name, plan.HumanBytes(uint64(p.Written)), plan.HumanBytes(uint64(p.Settled)))
	if p.Estimate > 0 {
		msg += " of ~" + plan.HumanBytes(uint64(p.Estimate))
	}
	msg += fmt.Sprintf(", %.0f MB/s", p.Rate/1e6)
	if p.Total > 0 {
		msg += fmt.Sprintf(", %d%% fetched", 100*p.Fetched/p.Total)
	}
	if p.ETA > 0 {
		msg += fmt.Sprintf(", ETA %s", p.ETA.Round(time.Second))
	}
	return msg
}

// ResultLine is how a written image reads on the console.
func ResultLine(name string, res image.Result) string {
	return fmt.Sprintf("%s: %s %s, %s written in %s (%d resumes, %s skipped as zeros)", name, res.Codec, res.Digest,
		plan.HumanBytes(uint64(res.Written)), res.Duration.Round(time.Millisecond), res.Resumes, plan.HumanBytes(uint64(res.Skipped)))
}
