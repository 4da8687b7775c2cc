package server

import (
	"flag"
	"io"
	"net/http"
	"net/http/pprof"
)

// hiddenFlags are left out of the usage text: they exist to measure the
// server (examples/bench), not to run it; doc.go describes them.
var hiddenFlags = map[string]bool{"bench-noop-apply": true}

// addHiddenFlags defines the hidden flags on fs.
func addHiddenFlags(fs *flag.FlagSet, c *Config) {
	fs.BoolVar(&c.BenchNoopApply, "bench-noop-apply", false, "benchmarking only: apply every write as a no-op (cluster.Node.SetNoopApply); the database never sees the writes")
}

// printVisibleDefaults prints fs's flags as PrintDefaults does, without
// the hidden ones.
func printVisibleDefaults(fs *flag.FlagSet, out io.Writer) {
	vis := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	vis.SetOutput(out)
	fs.VisitAll(func(f *flag.Flag) {
		if !hiddenFlags[f.Name] {
			vis.Var(f.Value, f.Name, f.Usage)
		}
	})
	vis.PrintDefaults()
}

// handleDebug adds -debug's profiling endpoints (net/http/pprof) to mux.
func handleDebug(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
