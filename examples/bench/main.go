package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/holeycow/holeycow/stability"
)

func main() {
	quick := flag.Bool("quick", false, "small run: finishes within 60 s on 2 cores")
	asJSON := flag.Bool("json", false, "print one JSON object on the last line")
	markdown := flag.Bool("markdown", false, "print a README-ready \"Performance\" markdown table")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	dir := flag.String("dir", "", "scratch directory on the disk to measure (default: a new temporary directory)")
	seed := flag.Uint64("seed", 0, "random seed (0: from the clock); printed at the start")
	only := flag.String("figs", "", "comma-separated figure numbers to run (default all; 2 needs 1)")
	sqliteMode := flag.String("sqlite-mode", "", "figure 10: -sqlite-mode of the serve processes, wal or truncate (default: serve's default)")
	serveProfiles := flag.String("serve-profiles", "", "figures 10 and 12: write CPU profiles of every serve process under each load into `dir`")
	blockDev := flag.String("blockdev", "auto", "serve figures: count bytes written on an ext4 file system on a loop device per cluster (auto: when root), or off (kernel write_bytes)")
	flag.Parse()

	sc := fullScale()
	if *quick {
		sc = quickScale()
	}
	sc.SQLiteMode, sc.ServeProfiles, sc.BlockDev = *sqliteMode, *serveProfiles, *blockDev
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sc.Only = map[int]bool{}
	for _, f := range strings.Split(*only, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			sc.Only[n] = true
		}
	}
	rep, err := run(ctx, sc, *dir, *seed, os.Stderr)
	if rep != nil {
		writeTable(os.Stdout, rep)
		if *markdown {
			fmt.Println()
			writeMarkdown(os.Stdout, rep)
		}
		if *asJSON {
			fmt.Println()
			if err := writeJSON(os.Stdout, rep); err != nil {
				fatal(err)
			}
		}
	}
	if err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// figure is one step of the run.
type figure struct {
	num  int
	name string
	keys []string // what it reports (marked not measured if it fails)
	run  func(e *env) error
}

// run measures every figure at scale sc, in a scratch directory under dir
// (a fresh temporary one if dir is ""), and returns the report. A figure
// that fails has its keys marked not measured with the error, and the run
// goes on; the error returned joins every failure.
func run(ctx context.Context, sc Scale, dir string, seed uint64, progressTo io.Writer) (*Report, error) {
	p := &progress{w: progressTo, start: time.Now()}
	scratch, err := os.MkdirTemp(dir, "holeycow-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	ca, err := stability.NewCA("holeycow bench CA")
	if err != nil {
		return nil, err
	}
	rep := newReport(sc.Name, runtime.NumCPU())
	e := &env{ctx: ctx, sc: sc, dir: scratch, rep: rep, p: p, seed: seed, ca: ca}
	p.Printf("bench: %s scale, seed %d, scratch %s", sc.Name, seed, scratch)
	switch why := blockDevUsable(); {
	case sc.BlockDev == "off":
		p.Printf("bench: bytes counted by the kernel's write_bytes (-blockdev off)")
	case sc.BlockDev != "" && sc.BlockDev != "auto":
		return nil, fmt.Errorf("bench: -blockdev %q: want auto or off", sc.BlockDev)
	case why != "":
		p.Printf("bench: bytes counted by the kernel's write_bytes (no block device per cluster: %s)", why)
	default:
		e.blockDevs = true
		p.Printf("bench: serve clusters' bytes counted on a loop device each")
	}

	var kv struct {
		tmpl  string
		pages int64
		g     *hcGroup
		base  *plainNode
	}
	figs := []figure{
		{1, "fig1 writer throughput", keysOf(1), func(e *env) error {
			var err error
			if kv.tmpl, kv.pages, err = e.kvTemplate(); err != nil {
				return err
			}
			kv.g, kv.base, err = figWriter(e, kv.tmpl, kv.pages)
			return err
		}},
		{2, "fig2 copier reads", keysOf(2), func(e *env) error {
			if kv.g == nil {
				return errors.New("figure 1's groups are not there")
			}
			return figRead(e, kv.g, kv.base)
		}},
		{3, "fig3 storage I/O", []string{"bytes_ratio_3n_vs_1n", "fsync_ratio_3n_vs_1n", "bytes_ratio_vs_shared_nothing"}, figStorage},
		{4, "fig4 overlay growth", keysOf(4), figOverlay},
	}
	figs = append(figs, clusterFigures()...)
	figs = append(figs, figure{13, "fig13 LSM engines: Pebble and goleveldb on a writer view", keysOf(13), figLSM})
	var errs []error
	mark := e.mark()
	for i, f := range figs {
		if ctx.Err() != nil || (len(sc.Only) > 0 && !sc.Only[f.num]) {
			why := "run interrupted"
			if ctx.Err() == nil {
				why = "figure not selected (-figs)"
			}
			for _, k := range f.keys {
				rep.NotMeasured(k, why)
			}
			continue
		}
		p.Printf("== %s", f.name)
		if err := f.run(e); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			p.Printf("%s failed: %v", f.name, err)
			for _, k := range f.keys {
				if _, ok := rep.Value(k); !ok && rep.NoteOf(k) == "" {
					rep.NotMeasured(k, fmt.Sprintf("%s failed: %s", f.name, firstLine(err)))
				}
			}
		}
		// Figures 1 and 2 share groups; close them after figure 2.
		if i >= 1 {
			if err := e.closeTo(mark); err != nil {
				errs = append(errs, fmt.Errorf("closing after %s: %w", f.name, err))
			}
			kv.g = nil
		}
	}
	for _, m := range metrics {
		if _, ok := rep.Value(m.Key); !ok && rep.NoteOf(m.Key) == "" {
			rep.NotMeasured(m.Key, "no figure produced it")
		}
	}
	p.Printf("bench: done")
	return rep, errors.Join(errs...)
}

// firstLine returns an error's first line, and how many more there are.
func firstLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%s (and %d more)", lines[0], len(lines)-1)
}

// keysOf lists the metric keys of figure fig.
func keysOf(fig int) []string {
	var ks []string
	for _, m := range metrics {
		if m.Fig == fig {
			ks = append(ks, m.Key)
		}
	}
	return ks
}
