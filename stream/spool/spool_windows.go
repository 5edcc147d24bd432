//go:build windows

package spool

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// openSpoolFile opens a spool file itself, never what a reparse point
// (symbolic link, junction, mount point) names: it is opened with
// FILE_FLAG_OPEN_REPARSE_POINT and refused when it is one, or a directory.
// create makes a new file exclusively (CREATE_NEW).
func openSpoolFile(path string, flag int, create bool) (*os.File, error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	var access uint32
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_WRONLY:
		access = syscall.GENERIC_WRITE
	case os.O_RDWR:
		access = syscall.GENERIC_READ | syscall.GENERIC_WRITE
	default:
		access = syscall.GENERIC_READ
	}
	disposition := uint32(syscall.OPEN_EXISTING)
	if create {
		disposition = syscall.CREATE_NEW
	}
	share := uint32(syscall.FILE_SHARE_READ | syscall.FILE_SHARE_WRITE | syscall.FILE_SHARE_DELETE)
	h, err := syscall.CreateFile(p, access, share, nil, disposition,
		syscall.FILE_ATTRIBUTE_NORMAL|syscall.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var info syscall.ByHandleFileInformation
	if err := syscall.GetFileInformationByHandle(h, &info); err != nil {
		_ = syscall.CloseHandle(h)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if info.FileAttributes&(syscall.FILE_ATTRIBUTE_REPARSE_POINT|syscall.FILE_ATTRIBUTE_DIRECTORY) != 0 {
		_ = syscall.CloseHandle(h)
		return nil, fmt.Errorf("%w: %s is a reparse point or a directory", ErrUnsafe, path)
	}
	f := os.NewFile(uintptr(h), path)
	if flag&os.O_APPEND != 0 {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, nil
}

// checkSpoolDir refuses a spool directory that is not a directory. Its
// ACL is not checked: keep the spool under a folder only the service
// account and administrators can write (the default for a folder created
// under %ProgramData% by an administrator is not: create it with an
// explicit ACL).
func checkSpoolDir(dir string) error {
	_, err := statDir(dir)
	return err
}

// syncDir is a no-op on Windows: NTFS makes renames durable with the
// file's own flush.
func syncDir(string) {}
