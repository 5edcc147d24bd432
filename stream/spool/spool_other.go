//go:build !windows

package spool

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openSpoolFile opens a spool file without following a symbolic link
// (O_NOFOLLOW), creating it exclusively when create is set (O_CREATE |
// O_EXCL: never an existing file or link), and refuses anything that is
// not a regular file (a FIFO is opened non-blocking, then refused).
func openSpoolFile(path string, flag int, create bool) (*os.File, error) {
	flag |= syscall.O_NOFOLLOW | syscall.O_CLOEXEC | syscall.O_NONBLOCK
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
			return nil, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafe, path)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrUnsafe, path, st.Mode().Type())
	}
	return f, nil
}

// checkSpoolDir refuses a spool directory that another user could plant
// files in: writable by group or others, or owned by someone other than
// this user or root.
func checkSpoolDir(dir string) error {
	st, err := statDir(dir)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by group or others (mode %04o); chmod go-w it (0700 is best)", ErrUnsafe, dir, perm)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if uid := int(sys.Uid); uid != os.Geteuid() && uid != 0 {
			return fmt.Errorf("%w: %s is owned by uid %d, not by this user (%d)", ErrUnsafe, dir, uid, os.Geteuid())
		}
	}
	return nil
}

// syncDir makes renames and new names in dir durable (best effort).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
