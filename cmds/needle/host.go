//go:build !ramdisk

package main

// hostCommands run on the build host only: they start QEMU, build the test
// OS image (qemu-test/osimage) or benchmark against host tools. The
// ramdisk's binary is built with -tags ramdisk and carries none of their
// code (host_ramdisk.go; TestRamdiskBinaryHasNoHostCode).
func hostCommands() []command {
	return []command{
		{"demo", "a full install in QEMU on this terminal: needle, then the installed Debian's login prompt (--boot-only: needle alone)", runDemo},
		{"bench", "measure image streaming: needle bench stream [--size 2GiB] | fleet --clients N (against nginx)", runBench},
	}
}
