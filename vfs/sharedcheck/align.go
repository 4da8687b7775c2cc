package sharedcheck

import (
	"errors"
	"unsafe"
)

// errNoDirect: the file system does not take O_DIRECT.
var errNoDirect = errors.New("sharedcheck: O_DIRECT not supported")

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
