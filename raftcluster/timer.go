package raftcluster

import "time"

func newTimer(d time.Duration) *time.Timer { return time.NewTimer(max(d, time.Millisecond)) }
