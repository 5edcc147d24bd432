//go:build !amd64 || purego

package kernelproc

// asciiPrefix converts the leading run of ASCII code units (0x01-0x7f) of
// the UTF-16LE src to bytes in dst and returns its length k, and stop: what
// ended the run, src[2k:2k+2] (stopUnit: a unit that is not ASCII;
// stopNUL), or stopShort: fewer than 8 code units were left before the end
// of src or of dst. dst past the k converted bytes may be overwritten.
func asciiPrefix(dst, src []byte) (k int, stop uint8) { return asciiPrefixSWAR(dst, src) }
