// Command floor is the cost floor that hunting NXLog JSON is measured
// against (bench/README.md, issue #14): it reads each file named on the
// command line, splits it into lines the way the NXLog reader does (a
// 256 KiB bufio.Reader, ReadSlice('\n')) and finds the first "EventID":
// in each line, and prints how many lines have one. Nothing is parsed,
// mapped or detected.
//
//	go build -o /tmp/floor ./bench/floor && /tmp/floor FILE.json
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floor FILE...")
		os.Exit(2)
	}
	var lines, found int64
	for _, name := range os.Args[1:] {
		l, f, err := scan(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(2)
		}
		lines += l
		found += f
	}
	fmt.Printf("%d lines, %d with \"EventID\":\n", lines, found)
}

// scan counts the lines of one file and those holding the key.
func scan(name string) (lines, found int64, err error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	key := []byte(`"EventID":`)
	var long []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line := chunk
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: assemble it.
			long = append(long[:0], chunk...)
			for errors.Is(err, bufio.ErrBufferFull) {
				chunk, err = r.ReadSlice('\n')
				long = append(long, chunk...)
			}
			line = long
		}
		if len(line) > 0 {
			lines++
			if bytes.Contains(line, key) {
				found++
			}
		}
		if err == io.EOF {
			return lines, found, nil
		}
		if err != nil {
			return lines, found, err
		}
	}
}
