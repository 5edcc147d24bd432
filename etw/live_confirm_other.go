//go:build !windows || !cgo

package etw

// Confirmer returns nil: without the Windows live sensor there is no host
// to ask, and a nil ProcessConfirmer leaves every decision to the caller.
func (l *Live) Confirmer() ProcessConfirmer { return nil }
