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

// ProgressLine is how an image's progress reads on the console.
func ProgressLine(name string, p image.Progress) string {
	msg := fmt.Sprintf("%s: %s written, %.0f MB/s", name, plan.HumanBytes(uint64(p.Written)), p.Rate/1e6)
	if p.Total > 0 {
		msg += fmt.Sprintf(", %d%% fetched, ETA %s", 100*p.Fetched/p.Total, p.ETA.Round(time.Second))
	}
	return msg
}

// ResultLine is how a written image reads on the console.
func ResultLine(name string, res image.Result) string {
	return fmt.Sprintf("%s: %s %s, %s written in %s (%d resumes, %s skipped as zeros)", name, res.Codec, res.Digest,
		plan.HumanBytes(uint64(res.Written)), res.Duration.Round(time.Millisecond), res.Resumes, plan.HumanBytes(uint64(res.Skipped)))
}
