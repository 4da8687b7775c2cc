package raftcluster

// TestSeed is testSeed for the external test package (one -seed flag per
// test binary).
var TestSeed = testSeed
