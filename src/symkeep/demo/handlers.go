package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

type hashResponse struct {
	Algorithm string `json:"algorithm"`
	Hex       string `json:"hex"`
	Bytes     int    `json:"bytes"`
}

type crunchResponse struct {
	Seed   uint64 `json:"seed"`
	Rounds int    `json:"rounds"`
	Result uint64 `json:"result"`
}

func newMux() *http.ServeMux {
	mux := http.DefaultServeMux // carries the /debug/pprof/ handlers
	mux.HandleFunc("/hash", handleHash)
	mux.HandleFunc("/crunch", handleCrunch)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	return mux
}

// handleHash returns the SHA-256 of the request body as JSON.
func handleHash(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, hashResponse{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil)), Bytes: int(n)})
}

// handleCrunch runs the hot path once: /crunch?seed=1&rounds=1000.
func handleCrunch(w http.ResponseWriter, r *http.Request) {
	seed, _ := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
	rounds, err := strconv.Atoi(r.URL.Query().Get("rounds"))
	if err != nil || rounds <= 0 || rounds > 1<<24 {
		rounds = 1000
	}
	writeJSON(w, crunchResponse{Seed: seed, Rounds: rounds, Result: crunch(seed, rounds)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
