package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

// agentEnv names the directory TestCheckShared_agentProcess serves.
const agentEnv = "HOLEYCOW_CHECKSHARED_AGENT_DIR"

// TestCheckShared_agentProcess is the agent process of the two-process
// tests: it runs "check-shared -agent" only when started by startAgent.
func TestCheckShared_agentProcess(t *testing.T) {
	dir := os.Getenv(agentEnv)
	if dir == "" {
		t.Skip("the agent process of the check-shared agent tests")
	}
	os.Exit(checkSharedMain([]string{"-agent", "127.0.0.1:0", "-timeout", "2m", dir}, os.Stdout, os.Stderr))
}

// startAgent starts "check-shared -agent 127.0.0.1:0 dir" in another
// process and returns its address and a channel that receives its exit
// status and output once it exits.
func startAgent(t *testing.T, dir string) (string, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCheckShared_agentProcess$")
	cmd.Env = append(os.Environ(), agentEnv+"="+dir)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := make(chan string, 1)
	exited := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var lines []string
		for sc.Scan() {
			l := sc.Text()
			lines = append(lines, l)
			if _, rest, ok := strings.Cut(l, " on "); ok && strings.HasPrefix(l, "check-shared agent: serving") {
				a, _, _ := strings.Cut(rest, " ")
				addr <- a
			}
		}
		err := cmd.Wait()
		exited <- strings.Join(lines, "\n") + "\n" + errb.String() + "\nexit: " + errString(err)
	}()
	select {
	case a := <-addr:
		return a, exited
	case s := <-exited:
		t.Fatalf("agent exited before serving: %s", s)
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not say its address within 30s")
	}
	return "", nil
}

func errString(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// peer runs "check-shared -peer addr dir" with few tries and returns its
// exit status and output.
func peer(t *testing.T, addr, dir string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := checkSharedMain([]string{"-tries", "40", "-meta-tries", "8", "-peer", addr, dir}, &out, &errb)
	return code, out.String() + errb.String()
}

// waitAgent returns the agent's exit report, failing after 30s.
func waitAgent(t *testing.T, exited <-chan string) string {
	t.Helper()
	select {
	case s := <-exited:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not exit within 30s of its peer's end")
	}
	return ""
}

// TestCheckShared_agent: the two-host mode with two processes on
// loopback: the agent serves a directory, the peer checks it against its
// own view (the same local directory: usable; an unrelated one: refused),
// and the agent exits once its peer is done.
func TestCheckShared_agent(t *testing.T) {
	dir := t.TempDir()
	addr, exited := startAgent(t, dir)
	code, out := peer(t, addr, dir)
	if code != 0 || !strings.Contains(out, "verdict: usable") || !strings.Contains(out, "lock exclusion between views") {
		t.Fatalf("same directory: exit %d\n%s", code, out)
	}
	if s := waitAgent(t, exited); !strings.Contains(s, "the peer is done") || !strings.HasSuffix(s, "exit: 0") {
		t.Fatalf("agent: %s", s)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}

	addr, exited = startAgent(t, t.TempDir())
	if code, out := peer(t, addr, dir); code != 1 || !strings.Contains(out, "does not see directory") {
		t.Fatalf("unrelated directories: exit %d\n%s", code, out)
	}
	waitAgent(t, exited)
}

// TestCheckShared_agentGluster: the agent and the peer each on its own
// mount of a GlusterFS volume: with the default options the peer finds
// stale reads across the two processes' mounts and exits 1 with the
// fixes; with the coherent options it exits 0.
func TestCheckShared_agentGluster(t *testing.T) {
	for _, coherent := range []bool{false, true} {
		v := gluster.Start(t, gluster.Options{Mounts: 2, Coherent: coherent})
		if err := os.Mkdir(filepath.Join(v.Mounts[0], "check"), 0o755); err != nil {
			t.Fatal(err)
		}
		addr, exited := startAgent(t, filepath.Join(v.Mounts[1], "check"))
		code, out := peer(t, addr, filepath.Join(v.Mounts[0], "check"))
		t.Logf("coherent %v: exit %d\n%s", coherent, code, out)
		switch {
		case coherent && code != 0:
			t.Errorf("coherent options: exit %d", code)
		case !coherent && (code != 1 || !strings.Contains(out, "FAIL read-after-write (reader had read the range)") || !strings.Contains(out, "fix: ")):
			t.Errorf("default options: exit %d, want 1 with the stale reads and their fix", code)
		}
		waitAgent(t, exited)
	}
}
