// Package jsonscan walks the members of one JSON object without building a
// map or allocating: the NXLog and Winlogbeat readers, the native trace
// reader and the mappers scan each line with it.
//
//	var sc jsonscan.Scanner
//	sc.Reset(line)
//	for {
//		key, kind, val, ok, err := sc.Next()
//		if err != nil || !ok { break }
//		if kind == jsonscan.String && string(key) == "Image" { ... } // val is unescaped
//	}
//
// String values are unescaped into a buffer the scanner owns, valid until
// the next call; nested objects and arrays are skipped unless entered
// (NextKey, Peek, Enter, Leave). It never panics on any input: the NXLog
// fuzz test compares what it reads against encoding/json.
package jsonscan
