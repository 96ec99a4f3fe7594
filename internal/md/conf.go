package md

import (
	"fmt"
	"strings"
)

// DevName is the array's name under /dev/md/ as mdadm and udev give it: the
// part of set_name after "homehost:".
func DevName(setName string) string {
	if i := strings.IndexByte(setName, ':'); i >= 0 {
		return setName[i+1:]
	}
	return setName
}

// ConfLine is the mdadm.conf ARRAY line identifying the array by UUID, so
// that the installed system's mdadm (and its initramfs hooks) assemble it
// under /dev/md/NAME:
//
//	ARRAY /dev/md/os metadata=1.2 UUID=0f1e2d3c:4b5a6978:8796a5b4:c3d2e1f0 name=host:os
//
// The files stage appends it to /etc/mdadm/mdadm.conf (Debian) or
// /etc/mdadm.conf (Red Hat) of the installed system.
func ConfLine(sb *Superblock) string {
	var b strings.Builder
	b.WriteString("ARRAY")
	if sb.SetName != "" {
		fmt.Fprintf(&b, " /dev/md/%s", DevName(sb.SetName))
	} else {
		b.WriteString(" <ignore>")
	}
	fmt.Fprintf(&b, " metadata=1.2 UUID=%s", sb.SetUUID)
	if sb.SetName != "" {
		fmt.Fprintf(&b, " name=%s", sb.SetName)
	}
	return b.String()
}

// ConfLine is the mdadm.conf ARRAY line of the array a describes.
func (a *Array) ConfLine() string {
	return ConfLine(&Superblock{SetName: a.SetName, SetUUID: a.UUID})
}
