package main

import "fmt"

// explode recurses a few frames and then panics, so a stack trace has several of our own frames.
//
//go:noinline
func explode(depth int) {
	if depth > 0 {
		explode(depth - 1)
		return
	}
	fail("demo panic requested with -panic")
}

//go:noinline
func fail(msg string) {
	panic(fmt.Sprintf("symkeep-demo: %s", msg))
}
