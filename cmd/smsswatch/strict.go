package main

import "errors"

// errStrict is returned when --strict is set and records were skipped.
var errStrict = errors.New("records were skipped (--strict)")
