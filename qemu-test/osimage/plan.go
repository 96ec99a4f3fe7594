package osimage

import "fmt"

// Plan is the needle plan that installs this image onto the disk with
// serial needle-root: an ESP, the root partition streamed from imageURL
// (sha256 of the artifact as served), the hostname and a marker file, and
// a kexec into the installed kernel by PARTUUID. The end-to-end tests and
// `needle demo` use it.
func Plan(imageURL, sha256, hostname string) string {
	return fmt.Sprintf(`version: 1
name: e2e-%[3]s
disks:
  - id: os
    select:
      serial: needle-root
    wipe: true
    partitions:
      - name: esp
        type: esp
        size: 64MiB
        filesystem: {format: vfat, label: ESP}
      - name: root
        type: linux-root-x86-64
        size: rest
        image:
          url: %[1]s
          sha256: %[2]s
files:
  - path: /etc/hostname
    contents: {inline: "%[3]s\n"}
    filesystem: root
  - path: /etc/needle-marker
    mode: "0644"
    contents: {inline: "installed by needle\n"}
    filesystem: root
boot:
  kexec:
    root: root
    cmdline: "root=PARTUUID=${partuuid:root} ro console=ttyS0 no_timer_check"
    fallback: fail
`, imageURL, sha256, hostname)
}
