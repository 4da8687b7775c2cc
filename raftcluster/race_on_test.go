//go:build race

package raftcluster_test

// raceEnabled reports whether this test binary was built with -race.
const raceEnabled = true
