//go:build !unix

package vfs

import (
	"errors"
	"os"
)

// lockFile is not implemented off Unix: the engine targets Linux.
func lockFile(f *os.File) error {
	return errors.ErrUnsupported
}
