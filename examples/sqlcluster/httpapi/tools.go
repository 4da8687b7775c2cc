package httpapi

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// VersionHeader carries the server's version on every answer, as
// rqlite's X-RQLITE-VERSION does (clients and tools read it).
const VersionHeader = "X-RQLITE-VERSION"

// defaultVersion is the version reported when Config.Version is empty:
// the main module's version from the build information, read once (every
// response carries it, and debug.ReadBuildInfo parses it at each call).
var defaultVersion = sync.OnceValue(buildVersion)

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return "holeycow-" + bi.Main.Version
	}
	return "holeycow-devel"
}

// ReadyOptions are GET /readyz's rqlite parameters.
type ReadyOptions struct {
	// NoLeader (?noleader) checks the node only, not that it knows a
	// leader.
	NoLeader bool
	// Sync (?sync) waits, within the request's timeout, until the node
	// has applied everything the leader had committed when asked.
	Sync bool
}

// ReadyWither is implemented by a Backend that honours ReadyOptions; for
// one that does not, /readyz?noleader and ?sync are Ready.
type ReadyWither interface {
	ReadyWith(ctx context.Context, o ReadyOptions) error
}

func (s *Server) ready(ctx context.Context, o ReadyOptions) error {
	if rw, ok := s.cfg.Backend.(ReadyWither); ok {
		return rw.ReadyWith(ctx, o)
	}
	return s.cfg.Backend.Ready(ctx)
}

// handleVars serves GET /debug/vars: expvar's layout (cmdline, memstats)
// with this node's counters and gauges from the metrics registry, each
// under its Prometheus name (labelled series under name{label="v",...}),
// and the node's status section under "holeycow".
func (s *Server) handleVars(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.context(r, options{})
	defer cancel()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out := map[string]any{"cmdline": os.Args, "memstats": ms, "version": s.version()}
	counters := map[string]float64{}
	if mfs, err := s.reg.Gather(); err == nil {
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				var v float64
				switch mf.GetType() {
				case dto.MetricType_COUNTER:
					v = m.GetCounter().GetValue()
				case dto.MetricType_GAUGE:
					v = m.GetGauge().GetValue()
				case dto.MetricType_UNTYPED:
					v = m.GetUntyped().GetValue()
				default:
					continue
				}
				counters[seriesName(mf.GetName(), m.GetLabel())] = v
			}
		}
	} else {
		s.log.Warn("httpapi: gathering metrics for /debug/vars", "err", err)
	}
	out["metrics"] = counters
	if st, err := s.cfg.Backend.Status(ctx); err == nil {
		out["holeycow"] = st.Extra
		out["store"] = map[string]any{"node_id": st.NodeID, "leader_id": st.LeaderID, "state": st.State,
			"commit_index": st.CommitIndex, "applied_index": st.AppliedIndex}
	}
	writeJSON(w, http.StatusOK, out, isSet(r, "pretty"))
}

func seriesName(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.GetName()+"=\""+l.GetValue()+"\"")
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func (s *Server) version() string {
	if s.cfg.Version != "" {
		return s.cfg.Version
	}
	return defaultVersion()
}

// buildJSON is /status's "build" section, as rqlite's.
type buildJSON struct {
	Version   string `json:"version"`
	Compiler  string `json:"compiler"`
	BuildTime string `json:"build_time,omitempty"`
	Commit    string `json:"commit,omitempty"`
}

func (s *Server) build() buildJSON {
	b := buildJSON{Version: s.version(), Compiler: runtime.Compiler}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			switch st.Key {
			case "vcs.revision":
				b.Commit = st.Value
			case "vcs.time":
				if t, err := time.Parse(time.RFC3339, st.Value); err == nil {
					b.BuildTime = t.UTC().Format(time.RFC3339)
				}
			}
		}
	}
	return b
}
