//go:build !linux

package disk

// LinuxKernel has no ioctls off Linux; Reread and Wipe report that.
func LinuxKernel() Kernel { return Kernel{} }
