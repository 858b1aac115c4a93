// Command crash imports net/http/pprof but fails at start, before it listens (a bad config, say).
package main

import (
	"fmt"
	_ "net/http/pprof"
	"os"
)

func main() {
	if _, err := os.ReadFile("/nonexistent/symkeep-smoke-config.yaml"); err != nil {
		panic(fmt.Sprintf("cannot load config: %v", err))
	}
}
