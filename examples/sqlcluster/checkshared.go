package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
)

// checkSharedMain runs "sqlcluster check-shared DIR1 DIR2 [...]": the
// checks of vfs/sharedcheck on the same directory as seen through
// different mounts, with a verdict and the fixes per finding. Across
// hosts, "check-shared -agent ADDR DIR" on one serves its view of the
// directory and "check-shared -peer ADDR DIR [...]" on the other runs the
// checks with the agent's view as one more. It returns 0 when every check
// passed (the agent: when its peer's session ended), 1 when some failed
// (or on an error), 2 on a usage error.
func checkSharedMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-shared", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sqlcluster check-shared [flags] DIR1 DIR2 [...]\n"+
			"       sqlcluster check-shared -agent ADDR DIR            (on host A)\n"+
			"       sqlcluster check-shared [flags] -peer ADDR DIR [...] (on host B)\n\n"+
			"Checks that DIR1, DIR2, ... (one directory of shared storage as seen through different mounts)\n"+
			"give what holeycow needs of -shared: read-after-write between mounts at random offsets and sizes,\n"+
			"synced writes (seen by a fresh open, under a new or replaced name, never out of order), sizes,\n"+
			"create/rename/remove visibility, and lock exclusion. Writes only under a fresh\n"+
			"subdirectory of DIR1 and removes it. Exit status 0: usable; 1: not (the fixes are printed).\n"+
			"Across hosts: the agent serves its view of DIR to the first peer that connects (anyone reaching ADDR\n"+
			"can then read and write under DIR until the check ends: bind it to an address only the peer reaches)\n"+
			"and exits when the peer is done; the peer runs the checks with the agent's view as the last one.\n\n")
		fs.PrintDefaults()
	}
	tries := fs.Int("tries", 200, "tries per read-after-write check")
	metaTries := fs.Int("meta-tries", 50, "tries per size, name and lock check")
	seed := fs.Uint64("seed", 0, "seed of the random offsets, sizes and contents (0: random)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this `duration`")
	agent := fs.String("agent", "", "serve DIR to one peer on this `address` (host:port) and exit when it is done")
	peer := fs.String("peer", "", "run the checks with the view of the agent at this `address` as one more")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	need := 2
	if *agent != "" || *peer != "" {
		need = 1
	}
	if fs.NArg() < need || (*agent != "" && (*peer != "" || fs.NArg() != 1)) {
		fs.Usage()
		return 2
	}
	var views []vfs.FS
	for _, d := range fs.Args() {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "check-shared: %s: not a directory (%v)\n", d, err)
			return 2
		}
		views = append(views, vfs.OS(d))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if *agent != "" {
		ln, err := net.Listen("tcp", *agent)
		if err != nil {
			fmt.Fprintln(stderr, "check-shared: -agent:", err)
			return 1
		}
		fmt.Fprintf(stdout, "check-shared agent: serving %s on %s to one peer (check-shared -peer %s DIR on the other host)\n", fs.Arg(0), ln.Addr(), ln.Addr())
		if err := sharedcheck.ServeAgent(ctx, ln, views[0]); err != nil {
			fmt.Fprintln(stderr, "check-shared:", err)
			return 1
		}
		fmt.Fprintln(stdout, "check-shared agent: the peer is done")
		return 0
	}
	if *peer != "" {
		r, err := sharedcheck.DialAgent(ctx, *peer)
		if err != nil {
			fmt.Fprintln(stderr, "check-shared: -peer:", err)
			return 1
		}
		defer r.Close()
		views = append(views, r)
	}
	rep, err := sharedcheck.Check(ctx, views, sharedcheck.Options{Tries: *tries, MetaTries: *metaTries, Seed: *seed})
	fmt.Fprint(stdout, rep)
	if err != nil {
		fmt.Fprintln(stderr, "check-shared:", err)
		return 1
	}
	if !rep.OK() {
		return 1
	}
	return 0
}
