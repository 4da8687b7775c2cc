package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

// TestServe_glusterMounts runs three serve processes, each with -shared
// on its own mount of one GlusterFS volume (the coherent options), as
// nodes on separate hosts would: writes through every node, SIGKILL of
// the writer, writes through the survivors, restart of the killed node;
// no acknowledged write is lost. The nodes read shared storage with
// -shared-drop-cache.
func TestServe_glusterMounts(t *testing.T) {
	v := gluster.Start(t, gluster.Options{Mounts: 3, Coherent: true})
	if err := os.Mkdir(filepath.Join(v.Mounts[0], "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newProcCluster(t)
	var all []*proc
	for i, m := range v.Mounts {
		p := c.add(fmt.Sprint("n", i+1), "-shared-drop-cache")
		p.shared = filepath.Join(m, "shared")
		all = append(all, p)
	}
	c.start(all[0], "")
	c.start(all[1], all[0].url())
	c.start(all[2], all[0].url()+","+all[1].url())
	ack := acked{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.post(ctx, all[1], "/db/execute", "CREATE TABLE kv(k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		c.write(all, i, fmt.Sprintf("a%02d", i), ack)
	}
	for _, p := range all {
		c.checkAcked(p, "linearizable", ack)
	}
	w1, e1 := c.writer(1, all...)
	c.signal(w1, syscall.SIGKILL)
	survivors := others(all, w1)
	for i := range 12 {
		c.write(survivors, i, fmt.Sprintf("b%02d", i), ack)
	}
	w2, e2 := c.writer(e1+1, survivors...)
	for _, p := range survivors {
		c.checkAcked(p, "linearizable", ack)
	}
	c.start(w1, "")
	c.checkAcked(w1, "none", ack)
	t.Logf("writer %s (epoch %d) killed; %s (epoch %d) took over; %d acknowledged writes on every node", w1.id, e1, w2.id, e2, len(ack))
}

// TestServe_refusesIncoherentMount: serve refuses to start with -shared
// on a mount with GlusterFS's default options (the startup self-check
// fails), naming the options that fix it; -shared-skip-check starts it
// anyway, with a warning.
func TestServe_refusesIncoherentMount(t *testing.T) {
	v := gluster.Start(t, gluster.Options{Mounts: 1})
	if err := os.Mkdir(filepath.Join(v.Mounts[0], "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newProcCluster(t)
	p := c.add("n1")
	p.shared = filepath.Join(v.Mounts[0], "shared")
	c.launch(p, "")
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit on a mount that fails the self-check")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fails the coherence self-check", "gluster volume set VOLUME performance.write-behind off",
		"attribute-timeout=0", "-shared-skip-check"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "direct-io-mode=enable)") {
		t.Errorf("the page-cache finding is reported although serve drops the page cache on a network mount:\n%s", out)
	}
	q := c.add("n2", "-shared-skip-check")
	q.shared = p.shared
	c.start(q, "")
	out, err = os.ReadFile(q.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "coherence self-check of -shared is skipped") {
		t.Errorf("no warning for -shared-skip-check:\n%s", out)
	}
}
