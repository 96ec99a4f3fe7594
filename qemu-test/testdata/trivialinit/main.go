// Command trivialinit is the floor the boot measurements compare needle
// against: a static PID 1 that prints one line and powers off.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	fmt.Fprintln(os.Stdout, "TRIVIAL INIT")
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
