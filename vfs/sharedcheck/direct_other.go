//go:build !linux

package sharedcheck

import "os"

// openDirect returns errNoDirect: O_DIRECT is read on Linux only.
func openDirect(string) (*os.File, error) { return nil, errNoDirect }
