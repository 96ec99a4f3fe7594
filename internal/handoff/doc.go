// Package handoff ends an install: it finds the installed system's kernel,
// initrd and command line on the mounted root (and /boot) filesystems, fills
// in the plan's ${partuuid:NAME} and ${uuid:NAME} references, and jumps into
// that kernel with kexec_file_load(2) and reboot(LINUX_REBOOT_CMD_KEXEC), or
// reboots plainly when the plan says so or when kexec is refused.
//
// # Finding the boot entry
//
// Unless the plan gives the kernel (and initrd) paths itself, Find looks, in
// this order, for:
//
//  1. Boot Loader Specification type #1 entries in /loader/entries/*.conf on
//     the /boot partition and /boot/loader/entries/*.conf on the root
//     (https://uapi-group.org/specifications/specs/boot_loader_specification/).
//     The default is grubenv's next_entry or saved_entry when it names an
//     entry (Fedora's grub2 with blscfg boots that), else loader.conf's "default" glob, else
//     the first entry in the specification's order: entries with a sort-key
//     first, by sort-key, machine-id, then version descending; then by file
//     name, descending, with the UAPI version comparison (vercmp.go).
//     $VAR references in options are expanded as blscfg does, with the
//     variables grub.cfg ends with: grubenv's, then grub.cfg's own fallback
//     (Fedora 30-33 wrote "options $kernelopts").
//  2. The default entry of /boot/grub/grub.cfg or /boot/grub2/grub.cfg, as
//     GRUB would pick it: the script is run by a small interpreter
//     (grubscript.go, grubeval.go) that knows set, if/elif/else, [ … ],
//     functions, load_env (the grubenv next to grub.cfg), search --set,
//     menuentry and submenu, and resolves "default" as an index, a title, an
//     id or a ">"-separated path through submenus, as GRUB does.
//     The command line starts with BOOT_IMAGE=PATH, as GRUB's linux
//     command makes it.
//  3. The vmlinuz and initrd.img links linux-base maintains: in /boot
//     (Ubuntu, or Debian with link_in_boot) or at the root (Debian's
//     default).
//  4. The newest /boot/vmlinuz-VERSION that has an initrd.img-VERSION,
//     initramfs-VERSION.img or initrd-VERSION next to it.
//
// Links and the newest kernel come without a command line; Find then
// makes the one GRUB's 10_linux would: root= from the installed
// /etc/fstab, "ro", GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT.
// The plan's cmdline, when given, replaces whatever was found; its
// ${partuuid:NAME}, ${uuid:NAME} and ${label:NAME} references are filled
// from Refs (refs.go), and an unknown one is an error naming it.
//
// Paths in boot entries are relative to the filesystem holding them: the
// /boot partition when /boot is separate (Fedora's default), the root
// otherwise. Layout names both directories; a path is looked up on the
// partition the entry came from first, then on the other.
//
// # Jumping
//
// Handoff.Run loads the kernel first (kexec_file_load reads the files
// through the descriptors, which pin the mounts), then unmounts everything
// under the mount root in reverse order, syncs, and calls
// reboot(LINUX_REBOOT_CMD_KEXEC). The initrd descriptor is opened read-only:
// the kernel refuses a file that is open for writing (kernel_read_file →
// deny_write_access gives ETXTBSY). Several initrds (microcode + initramfs)
// are concatenated into one file first; the kernel accepts concatenated
// cpio archives (Documentation/driver-api/early-userspace/buffer-format.rst).
//
// A refusal is classified (classify_linux.go): lockdown (EPERM with
// /sys/kernel/security/lockdown active), kexec disabled by sysctl, missing
// support (ENOSYS, EINVAL, ENOEXEC), signature required (EKEYREJECTED,
// ENOKEY, EBADMSG: KEXEC_SIG_FORCE or a lockdown with IMA). With fallback
// "reboot" Run then reboots plainly; with "fail" it returns the error.
package handoff
