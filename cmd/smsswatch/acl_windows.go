package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// pathSDDL returns the owner and DACL of path as SDDL.
func pathSDDL(path string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("read the permissions of %s: %w", path, err)
	}
	return sd.String(), nil
}

// checkInstallPath refuses a service binary that anyone but SYSTEM,
// Administrators and TrustedInstaller could change or swap (installChecks).
func checkInstallPath(exe string) error {
	paths := pathsUpward(exe)
	sddls := make([]string, len(paths))
	for i, p := range paths {
		s, err := pathSDDL(p)
		if err != nil {
			return err
		}
		sddls[i] = s
	}
	var errs []error
	for _, c := range installChecks(paths, sddls) {
		if err := checkACL(c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\n(copy smsswatch.exe to %%ProgramFiles%%\\smsswatch\\ and install from there)", errors.Join(errs...))
	}
	return nil
}

// dataDir returns %ProgramData%\smsswatch.
func dataDir() string {
	dir := os.Getenv("ProgramData")
	if dir == "" {
		dir = `C:\ProgramData`
	}
	return filepath.Join(dir, "smsswatch")
}

// ensureDataDir creates %ProgramData%\smsswatch with a protected DACL
// (SYSTEM and Administrators only, inherited by what is created inside),
// or checks the one that exists: it must be neither writable nor readable
// by anyone else.
func ensureDataDir() (string, error) {
	dir := dataDir()
	sd, err := windows.SecurityDescriptorFromString(dataDirSDDL)
	if err != nil {
		return "", fmt.Errorf("data folder DACL: %w", err)
	}
	var sa windows.SecurityAttributes
	sa.Length = uint32(unsafe.Sizeof(sa))
	sa.SecurityDescriptor = sd
	name, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return "", err
	}
	err = windows.CreateDirectory(name, &sa)
	if err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	s, err := pathSDDL(dir)
	if err != nil {
		return "", err
	}
	if err := checkACL(aclCheck{path: dir, sddl: s, noWrite: true, noRead: true, description: "data folder"}); err != nil {
		return "", fmt.Errorf("%w\n(reset it: icacls %s /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F)", err, dir)
	}
	return dir, nil
}

// checkServiceFiles refuses to start the service when a file it trusts
// can be written (or, for secrets, read) by anyone but SYSTEM,
// Administrators and TrustedInstaller.
func checkServiceFiles(files []protectedFile) error {
	var errs []error
	for _, f := range files {
		s, err := pathSDDL(f.path)
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			continue // not made yet (a spool folder); its folder was checked
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkACL(aclCheck{path: f.path, sddl: s, noWrite: true, noRead: f.secret, description: f.what}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
