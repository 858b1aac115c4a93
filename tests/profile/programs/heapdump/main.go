// Command heapdump allocates through an inlined helper and writes a heap profile (every allocation
// sampled) to the file named by its first argument.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

var keep [][]byte

func grow(n int) []byte { return make([]byte, n) }

//go:noinline
func fill(k int) {
	for i := 0; i < k; i++ {
		keep = append(keep, grow(1024+i))
	}
}

func main() {
	runtime.MemProfileRate = 1
	fill(2000)
	runtime.GC()
	f, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f.Close()
	fmt.Println(len(keep))
}
