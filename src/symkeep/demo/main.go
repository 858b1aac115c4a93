// Command symkeep-demo is a small HTTP service that symkeep's matrix builds in many variants.
//
// It has what real services have and what symbolization must survive: HTTP handlers, JSON,
// hashing, a hot path with an inlined helper, pprof labels and a net/http/pprof endpoint.
//
//	-addr 127.0.0.1:0   listen address (port 0 picks one; the chosen address is printed)
//	-busy               keep a background worker hashing (so CPU profiles have samples)
//	-work 2s            CPU-bound benchmark mode: run the hot path for a duration, print ops/s, exit
//	-cpuprofile FILE    with -work: write a CPU profile of the run
//	-panic              panic from a nested call (for stack-trace checks)
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/pprof"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address for the API and /debug/pprof")
	busy := flag.Bool("busy", false, "run a background hashing worker")
	work := flag.Duration("work", 0, "benchmark mode: run the CPU-bound hot path this long, then exit")
	cpuprofile := flag.String("cpuprofile", "", "with -work: write a CPU profile here")
	doPanic := flag.Bool("panic", false, "panic from a nested call and exit")
	flag.Parse()

	if *doPanic {
		explode(3)
		return
	}
	if *work > 0 {
		os.Exit(runBenchmark(*work, *cpuprofile))
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	if *busy {
		go pprof.Do(context.Background(), pprof.Labels("worker", "busy"), func(ctx context.Context) {
			busyWorker(ctx)
		})
	}
	fmt.Printf("symkeep-demo listening on http://%s/debug/pprof/\n", ln.Addr())
	if err := http.Serve(ln, newMux()); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

// runBenchmark runs the hot path for d and prints "ops=N seconds=S ops_per_sec=R".
func runBenchmark(d time.Duration, profilePath string) int {
	if profilePath != "" {
		f, err := os.Create(profilePath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	deadline := start.Add(d)
	var ops uint64
	var sum uint64
	for time.Now().Before(deadline) {
		sum += crunch(sum, 4096)
		ops++
	}
	el := time.Since(start).Seconds()
	fmt.Printf("ops=%d seconds=%.4f ops_per_sec=%.1f checksum=%x\n", ops, el, float64(ops)/el, sum)
	return 0
}

func busyWorker(ctx context.Context) {
	var sum uint64
	for {
		select {
		case <-ctx.Done():
			return
		default:
		}
		sum += crunch(sum, 4096)
		if sum == 42 {
			fmt.Println("unlikely")
		}
	}
}
