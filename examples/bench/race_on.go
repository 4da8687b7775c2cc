//go:build race

package main

// raceEnabled: under -race the bench cluster keeps its Raft log in memory
// (the race detector's cost would swamp the log store's).
const raceEnabled = true
