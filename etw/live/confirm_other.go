//go:build !windows || !cgo

package live

// Confirmer returns nil: without the Windows live sensor there is no host
// to ask, and a nil ProcessConfirmer leaves every decision to the caller.
func (l *Sensor) Confirmer() ProcessConfirmer { return nil }
