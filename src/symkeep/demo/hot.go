package main

import (
	"crypto/sha256"
	"encoding/binary"
)

// mix is the small helper the compiler inlines into crunch (unless -gcflags=all=-l).
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 29
	return x
}

// crunch is the hot path: a mixing loop plus a SHA-256 of the state.
//
//go:noinline
func crunch(seed uint64, rounds int) uint64 {
	acc := seed | 1
	for i := 0; i < rounds; i++ {
		acc = mix(acc + uint64(i))
	}
	return acc ^ digest(acc)
}

// digest hashes the accumulator: real library code under the hot path.
//
//go:noinline
func digest(v uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	sum := sha256.Sum256(b[:])
	return binary.LittleEndian.Uint64(sum[:8])
}
