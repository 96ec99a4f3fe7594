// Package plan reads, checks, validates and authenticates needle's install
// plan: which RAID volumes and md arrays to build, which disks to erase and
// how to lay them out, which images to stream, which files to write, and how
// to hand off to the installed system.
//
// The shape borrows from Ignition's storage config (nested disks with their
// partitions, files with verified remote contents) and curtin's (disks chosen
// by serial, wwn or "smallest/largest" rather than by device path, RAID as
// its own item), and keeps only what a bare-metal install needs. Everything
// refers to everything else by name: disk ids and partition names share one
// plan-wide namespace; RAID volumes and md arrays have their own.
//
// # Reading
//
// Parse = Decode + Check. Decode is strict: an unknown key, a wrong type, a
// key given twice, a second YAML document or a version other than 1 is an
// error naming file, line and field ("plan.yaml:12: unknown field "sizee" in
// partition"). Check runs the semantic rules listed below and collects every
// problem, each with its line, into an Errors.
//
// # Schema, version 1 (full example: testdata/full.yaml)
//
//	version: 1                          required, exactly 1
//	name: STRING                        free text for reports
//	reinstall: BOOL                     install even when the disk already holds
//	                                    this plan's install (default false: hand
//	                                    off to it instead)
//	raid:                               hardware RAID, one entry per controller
//	  - controller: {pci: "0000:03:00.0" | index: N, tool: sas2ircu|sas3ircu|storcli|perccli|arcconf|tw_cli|ssacli}
//	    volumes:
//	      - {name, level: raid0|1|1e|5|6|10|50|60, members: ["E:S", …] | count: N, size: max|SIZE, recreate: BOOL}
//	md:                                 Linux md arrays needle creates
//	  - {name, level: raid0|raid1|raid5|raid10, devices: [REF, …], metadata: "1.2"|"1.0"}
//	disks:
//	  - id: NAME
//	    select:                         every hint given must hold
//	      serial: S                     exact
//	      wwn: W                        "0x…", "naa.…" or bare hex, case-insensitive
//	      model: GLOB                   path.Match glob, padding trimmed
//	      vendor: GLOB
//	      size: {min: SIZE, max: SIZE}  inclusive
//	      rotational: BOOL
//	      removable: BOOL
//	      bus_path: GLOB                as /dev/disk/by-path names it
//	      hctl: H:C:T:L
//	      by_id: NAME                   a /dev/disk/by-id name
//	      name: sda                     kernel name; never the only hint
//	      raid_volume: NAME | md: NAME  a device the raid stage creates; alone
//	      prefer: smallest|largest      tie-break among matches
//	    wipe: true                      required when anything is written; or a mapping, which means true:
//	    wipe: {discard: BOOL, zeroout: BOOL}
//	                                    discard: BLKDISCARD the whole disk first (advisory);
//	                                    zeroout: then BLKZEROOUT it (fatal on failure): the disk reads
//	                                    zeros and the all-zero blocks of images are not written
//	    table: gpt|mbr                  default gpt when partitions are given
//	    partitions:
//	      - name: NAME                  GPT name and plan-wide reference
//	        type: esp|bios-boot|linux|linux-root-x86-64|linux-root-arm64|linux-var|linux-home|linux-srv|xbootldr|swap|raid|lvm|microsoft-basic|GUID|0xNN
//	        size: SIZE | N% | rest
//	        partuuid: UUID              optional, gpt only
//	        filesystem: {format: vfat|ext4|swap, label: L}
//	        image: {url, sha256|sha512}
//	    image: {url, sha256|sha512}     whole-disk image instead of table+partitions
//	files:
//	  - {path: /abs, mode: "0644", owner: user[:group], filesystem: REF,
//	     contents: {inline: TEXT} | {url, sha256|sha512}}
//	boot:                               exactly one of
//	  kexec: {root: REF, kernel: /path, initrd: /path, cmdline: "… ${partuuid:REF} ${uuid:REF} …", fallback: reboot|fail}
//	  reboot: {}
//
// SIZE is a number (fractions allowed) with a unit: KiB MiB GiB TiB (binary)
// or KB MB GB TB (decimal, as on disk labels) or B. Partitions are aligned
// to 1 MiB; fixed sizes round up to it, percentages (of the usable space:
// the disk less 1 MiB at the start and, on gpt, 1 MiB at the end) round
// down. At most one partition takes "rest".
//
// A filesystem reference (REF in files and boot) names a partition with a
// filesystem (not swap) or an image, or DISK:N for partition N inside a
// whole-disk image. File modes are always read as octal, as chmod does.
//
// # Semantic rules (Check)
//
// Sizes add up (one "rest" at most, percentages ≤ 100, fixed sizes fit the
// smallest disk select.size or the RAID volume allows); references resolve
// (files, boot root and cmdline refs, md devices, raid_volume and md
// selectors); every artifact has an http(s) URL and a sha256 (64 hex) or
// sha512 (128 hex); exactly one boot handoff; names unique; no disk chosen
// by a bare kernel name; a disk that is written says wipe: true (or a wipe
// mapping); discard and zeroout go on the disk that selects an md array,
// not on its whole-disk members, which the raid stage writes directly.
//
// # Validation (Validate)
//
// Against a machine's inventory, before anything destructive: each selector
// must pick exactly one disk (zero or several is an error listing every disk
// with why it was or was not taken); removable disks are excluded unless
// the selector says removable: true or names the disk by serial, wwn or
// by_id, and the boot medium (Options.BootDevices) unless named by serial,
// wwn or by_id; two selectors may not pick the same disk; the layout must
// fit the chosen disk; and the RAID tools the plan needs must be in the
// image. Disks selected by raid_volume or md are "resolved after raid" (or
// md) until the raid stage calls Validated.Resolve with the new device,
// which applies the same rules. Validated.WriteReport prints the dry run.
//
// # Signatures and URLs
//
// sign.go describes the ed25519 detached signature and key file formats;
// url.go the needle.plan=URL variables.
package plan
