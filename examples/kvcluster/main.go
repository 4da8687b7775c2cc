// Command kvcluster runs the demo of package kv: a 3-node replicated
// key-value store on Pebble, in one process, that keeps one physical copy
// of its database. It writes from several clients, kills the writer
// mid-workload, adds a fourth node, verifies every node, and ends with one
// JSON line of results.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	writes := flag.Int("writes", 3000, "writes in all (acknowledged or not)")
	clients := flag.Int("clients", 4, "concurrent clients")
	quiet := flag.Bool("quiet", false, "print only the JSON line")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	say := func(format string, args ...any) {
		if !*quiet {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	res, err := run(ctx, *writes, *clients, say)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if err != nil || res.Lost > 0 || len(res.Diverged) > 0 {
		os.Exit(1)
	}
}
