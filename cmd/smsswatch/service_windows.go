package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// serviceDescription is shown by services.msc.
const serviceDescription = "smsswatch: watches smss.exe (Session Manager) through the Microsoft-Windows-Kernel-Process ETW provider and reports abuse."

// controlService carries out a service request through the service
// control manager and returns one line for the operator.
func controlService(req serviceRequest) (string, error) {
	m, err := mgr.Connect()
	if err != nil {
		return "", fmt.Errorf("connect to the service manager (run as administrator): %w", err)
	}
	defer m.Disconnect()
	switch req.action {
	case "install":
		return installService(m, req)
	case "uninstall":
		s, err := m.OpenService(req.name)
		if err != nil {
			return "", fmt.Errorf("open service %q: %w", req.name, err)
		}
		defer s.Close()
		if _, err := stopService(s); err != nil {
			return "", err
		}
		if err := s.Delete(); err != nil {
			return "", fmt.Errorf("delete service %q: %w", req.name, err)
		}
		return fmt.Sprintf("service %q removed", req.name), nil
	case "start":
		s, err := m.OpenService(req.name)
		if err != nil {
			return "", fmt.Errorf("open service %q: %w", req.name, err)
		}
		defer s.Close()
		if err := s.Start(); err != nil {
			return "", fmt.Errorf("start service %q: %w", req.name, err)
		}
		if err := waitState(s, svc.Running, 30*time.Second); err != nil {
			return "", err
		}
		return fmt.Sprintf("service %q running", req.name), nil
	case "stop":
		s, err := m.OpenService(req.name)
		if err != nil {
			return "", fmt.Errorf("open service %q: %w", req.name, err)
		}
		defer s.Close()
		was, err := stopService(s)
		if err != nil {
			return "", err
		}
		if !was {
			return fmt.Sprintf("service %q was not running", req.name), nil
		}
		return fmt.Sprintf("service %q stopped", req.name), nil
	}
	return "", errServiceUsage
}

func installService(m *mgr.Mgr, req serviceRequest) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("path of smsswatch.exe: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return "", fmt.Errorf("path of smsswatch.exe: %w", err)
	}
	if s, err := m.OpenService(req.name); err == nil {
		s.Close()
		return "", fmt.Errorf("service %q already exists (uninstall it first)", req.name)
	}
	// The service runs as LocalSystem: a binary (or a folder above it)
	// that a user can change would be an escalation path.
	if err := checkInstallPath(exe); err != nil {
		return "", fmt.Errorf("refusing to install: %w", err)
	}
	dir, err := ensureDataDir()
	if err != nil {
		return "", fmt.Errorf("refusing to install: %w", err)
	}
	args := append([]string{"run"}, req.runArgs...)
	s, err := m.CreateService(req.name, exe, mgr.Config{
		DisplayName:  "smsswatch (Session Manager watch)",
		Description:  serviceDescription,
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
		// ServiceStartName empty: LocalSystem.
	}, args...)
	if err != nil {
		return "", fmt.Errorf("create service %q: %w", req.name, err)
	}
	defer s.Close()
	installed := false
	defer func() {
		if !installed {
			// Half installed: remove it rather than leave a service
			// without recovery actions.
			_ = s.Delete()
		}
	}()
	// Restart after a crash (or a kill): 5 s, 5 s, then every 30 s; the
	// failure count resets after a day.
	actions := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
	}
	if err := s.SetRecoveryActions(actions, 86400); err != nil {
		return "", fmt.Errorf("set recovery actions: %w", err)
	}
	// Also restart when the service stops itself with an error exit code.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return "", fmt.Errorf("set recovery on non-crash failures: %w", err)
	}
	if err := installEvidenceSource(req.name); err != nil {
		return "", fmt.Errorf("register event log source %q: %w", req.name, err)
	}
	installed = true
	return fmt.Sprintf("service %q installed: %q %q (LocalSystem, automatic start; data folder %s)", req.name, exe, args, dir), nil
}

// stopService stops s if it runs and waits for it; it reports whether it
// was running.
func stopService(s *mgr.Service) (bool, error) {
	st, err := s.Query()
	if err != nil {
		return false, fmt.Errorf("query service: %w", err)
	}
	if st.State == svc.Stopped {
		return false, nil
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return true, fmt.Errorf("stop service: %w", err)
	}
	return true, waitState(s, svc.Stopped, 40*time.Second)
}

// waitState polls s until it reaches want.
func waitState(s *mgr.Service, want svc.State, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service: %w", err)
		}
		if st.State == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service still in state %d after %v", st.State, timeout)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// serviceStartChecks makes sure the data folder exists with its protected
// DACL and that no file the service trusts (flag gives the run flags'
// values) can be changed or, for secrets, read by anyone but SYSTEM,
// Administrators and TrustedInstaller.
func serviceStartChecks(flag func(name string) string) error {
	if _, err := ensureDataDir(); err != nil {
		return err
	}
	return checkServiceFiles(serviceFiles(flag))
}
