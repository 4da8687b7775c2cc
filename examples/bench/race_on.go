//go:build race

package main

// raceEnabled: BoltDB (raft-boltdb v1) trips the race detector's checkptr
// check, so under -race the cluster keeps its Raft log in memory.
const raceEnabled = true
