//go:build !linux

package md

import "errors"

func devNum(path string) (major, minor uint32, err error) {
	return 0, 0, errors.New("md: block devices need Linux")
}
