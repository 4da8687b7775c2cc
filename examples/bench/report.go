package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// formatValue prints a value with a precision that suits its key.
func formatValue(key string, v float64) string {
	switch {
	case strings.HasPrefix(key, "join_bytes"), key == "raft_log_bytes_per_write", strings.HasPrefix(key, "bytes_per_"),
		key == "failed_requests_c16_60s":
		return fmt.Sprintf("%.0f", v)
	case strings.HasPrefix(key, "cpu_ms_"):
		return fmt.Sprintf("%.2f", v)
	case strings.HasSuffix(key, "_ms") || strings.Contains(key, "_ms_") || strings.HasPrefix(key, "cpu_us_") || strings.HasPrefix(key, "stability_rounds_"):
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// status says whether the goal is met.
func status(m metric, v float64, ok bool) string {
	switch {
	case !ok || m.Met == nil:
		return ""
	case m.Met(v):
		return "met"
	}
	return "MISSED"
}

// writeTable prints the readable table.
func writeTable(w io.Writer, r *Report) {
	fmt.Fprintf(w, "holeycow bench (%s scale, %d cores): ratios against a baseline measured in the same run\n\n", r.Scale, r.Cores)
	fmt.Fprintf(w, "%-3s %-30s %-12s %-9s %-6s %s\n", "fig", "key", "value", "goal", "", "what")
	for _, m := range metrics {
		v, ok := r.Value(m.Key)
		val := "-"
		if ok {
			val = formatValue(m.Key, v)
		}
		fmt.Fprintf(w, "%-3d %-30s %-12s %-9s %-6s %s\n", m.Fig, m.Key, val, m.Goal, status(m, v, ok), m.Label)
		if n := r.NoteOf(m.Key); n != "" {
			fmt.Fprintf(w, "    %s\n", n)
		}
	}
	if d := r.Details(); len(d) > 0 {
		fmt.Fprintln(w)
		for _, l := range d {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// writeMarkdown prints the README's "Performance" table.
func writeMarkdown(w io.Writer, r *Report) {
	fmt.Fprintf(w, "## Performance\n\n")
	fmt.Fprintf(w, "Ratios from a single `go run ./examples/bench` run (%s scale) on a %d-core machine; every baseline was measured in the same run, on the same disk, with the same SQLite settings: sqlitevfs's defaults (TRUNCATE journal, synchronous=FULL) in figures 1-4, where SQLite runs on a view directly, the cluster's default (WAL journal, synchronous=NORMAL) in the cluster and server figures (5-12; -sqlite-mode changes figure 10's).\n\n", r.Scale, r.Cores)
	fmt.Fprintf(w, "| # | figure | value | goal |\n|---|---|---|---|\n")
	for _, m := range metrics {
		v, ok := r.Value(m.Key)
		val := ""
		if ok {
			val = formatValue(m.Key, v)
			if n := r.NoteOf(m.Key); n != "" {
				val += " (" + n + ")"
			}
		} else {
			val = r.NoteOf(m.Key)
		}
		goal := m.Goal
		if s := status(m, v, ok); s != "" {
			goal += " (" + s + ")"
		}
		fmt.Fprintf(w, "| %d | %s `%s` | %s | %s |\n", m.Fig, m.Label, m.Key, val, goal)
	}
}

// jsonObject returns the JSON object: every metric key (null when not
// measured), plus scale, cores and notes.
func jsonObject(r *Report) map[string]any {
	obj := map[string]any{"scale": r.Scale, "cores": r.Cores}
	notes := map[string]string{}
	for _, m := range metrics {
		if v, ok := r.Value(m.Key); ok {
			obj[m.Key] = v
		} else {
			obj[m.Key] = nil
		}
		if n := r.NoteOf(m.Key); n != "" {
			notes[m.Key] = n
		}
	}
	obj["notes"] = notes
	return obj
}

func writeJSON(w io.Writer, r *Report) error {
	b, err := json.Marshal(jsonObject(r))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
