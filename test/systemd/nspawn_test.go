package systemd

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/test/harness"
)

// need skips (with the reason) outside CI and fails under CI=true, where
// .ci/run installs systemd-container and runs as root.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run the unit under systemd: %s", why)
	}
	t.Skipf("cannot run the unit under systemd: %s", why)
}

// TestUnitUnderSystemdK4 boots the unit with systemd as PID 1, checks posd
// runs as its dynamic user and is READY, opens a SEQR payment against
// paysim on the host's loopback (the container shares the host network),
// then stops posd with SIGSTOP: systemd's watchdog (WatchdogSec=5) must
// kill it and Restart=always start it again, and the new posd must poll
// the open payment. K4 is the time from SIGSTOP to that first poll, as the
// emulator saw it; SEQR reverses a payment nobody polls for 20 s.
func TestUnitUnderSystemdK4(t *testing.T) {
	nspawn, err := exec.LookPath("systemd-nspawn")
	need(t, err == nil, "systemd-nspawn is not installed (Debian package systemd-container)")
	need(t, os.Geteuid() == 0, "systemd-nspawn needs root")
	_, err = os.Stat("/lib/systemd/systemd")
	need(t, err == nil, "no /lib/systemd/systemd to boot (Debian package systemd)")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := harness.Build(ctx, dir)
	require.NoError(t, err)
	sim, base, err := harness.StartPaysim(bin)
	require.NoError(t, err)
	t.Cleanup(sim.Kill)

	port := freePort(t)
	api := "127.0.0.1:" + strconv.Itoa(port)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	conf := write("posd.yaml", fmt.Sprintf("api:\n  listen: %s\nseqr:\n  url: %s/soap/merchant/cashregister-2\nlog:\n  format: json\n", api, base))
	// The one change to the unit: where the binary is. The container's /usr
	// is the host's, read-only, so /usr/local/bin/posd cannot be bound in.
	dropin := write("exec.conf", "[Service]\nExecStart=\nExecStart=/opt/posd/posd serve\n")
	unit, err := filepath.Abs("../../deploy/systemd/posd.service")
	require.NoError(t, err)

	name := fmt.Sprintf("posdk4-%d", os.Getpid())
	console, err := os.Create(filepath.Join(dir, "console.log"))
	require.NoError(t, err)
	defer console.Close()
	cmd := exec.Command(nspawn, "--directory=/", "--volatile=yes", "--machine="+name,
		// No machined or D-Bus on a CI host: do not register, stay in our cgroup.
		"--register=no", "--keep-unit", "--quiet",
		"--bind-ro="+bin.Posd+":/opt/posd/posd",
		"--bind-ro="+unit+":/etc/systemd/system/posd.service",
		"--bind-ro="+dropin+":/etc/systemd/system/posd.service.d/exec.conf",
		"--bind-ro="+conf+":/etc/posd/posd.yaml",
		"--boot", "systemd.firstboot=off", "systemd.unit=basic.target", "systemd.wants=posd.service")
	cmd.Stdout, cmd.Stderr = console, console
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // nspawn powers the container off
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	leader := 0
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(console.Name())
			t.Logf("container console:\n%s", tail(string(b), 40))
			if leader != 0 {
				out, _ := exec.Command("nsenter", "-t", strconv.Itoa(leader), "-m", "-u", "-i", "-p",
					"journalctl", "-u", "posd", "--no-pager", "-n", "60").CombinedOutput()
				t.Logf("journalctl -u posd in the container:\n%s", out)
			}
		}
	})

	// READY: posd answers, so systemd started it (Type=notify: the unit is
	// active only after READY=1).
	booted := time.Now()
	client := &http.Client{Timeout: 5 * time.Second}
	require.NoError(t, harness.WaitFor(ctx, 2*time.Minute, func() (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("systemd-nspawn exited: %v", err)
		default:
		}
		resp, err := client.Get("http://" + api + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	}), "posd never answered under systemd")
	t.Logf("container booted and posd answered in %s", time.Since(booted).Round(time.Millisecond))
	leader = descendant(t, cmd.Process.Pid, "systemd", 0)
	pid := descendant(t, cmd.Process.Pid, "posd", 0)
	uid := procUID(t, pid)
	require.NotZero(t, uid, "DynamicUser=yes: posd must not run as root")

	tok, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/var/lib/posd/api-token", pid))
	require.NoError(t, err, "the token posd made in its StateDirectory")
	c := harness.NewAPIAt(api, strings.TrimSpace(string(tok)))
	require.NoError(t, harness.Setup(ctx, c, "K4TILL"))
	var p harness.Payment
	require.NoError(t, c.Do(ctx, "POST", "/v1/payments", harness.Sale("k4-1", "10.00"), map[string]string{"Idempotency-Key": "k4-1"}, &p))
	sc := harness.NewSim(base)
	require.NoError(t, harness.WaitFor(ctx, 30*time.Second, func() (bool, error) {
		if err := c.Do(ctx, "GET", "/v1/payments/"+p.ID, nil, nil, &p); err != nil {
			return false, err
		}
		if p.InvoiceReference == "" {
			return false, nil
		}
		calls, err := sc.CallLog(ctx, "getPaymentStatus", p.InvoiceReference)
		return len(calls) >= 2, err
	}), "the payment is never polled")

	stopped := time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	var first harness.SimCall
	require.NoError(t, harness.WaitFor(ctx, 60*time.Second, func() (bool, error) {
		calls, err := sc.CallLog(ctx, "getPaymentStatus", p.InvoiceReference)
		for _, call := range calls {
			// A poll already on its way when posd stopped arrives within
			// milliseconds; it is not the restarted posd's.
			if call.Time.After(stopped.Add(200 * time.Millisecond)) {
				first = call
				return true, nil
			}
		}
		return false, err
	}), "no poll after posd was stopped: the watchdog did not restart it")
	k4 := first.Time.Sub(stopped)
	restarted := descendant(t, cmd.Process.Pid, "posd", pid)
	require.NotEqual(t, pid, restarted, "the poll came from a new posd")
	t.Logf("K4: SIGSTOP at %s, first poll of the restarted posd (pid %d) %s later", stopped.Format("15:04:05.000"), restarted, k4.Round(time.Millisecond))
	require.Less(t, k4, 20*time.Second, "SEQR reverses a payment not polled within about 20 s")

	// It was the watchdog, and one restart (not a crash loop).
	inContainer := func(args ...string) string {
		out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(leader), "-m", "-u", "-i", "-p", "--"}, args...)...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	require.Equal(t, "1", inContainer("systemctl", "show", "posd", "-p", "NRestarts", "--value"))
	require.Contains(t, inContainer("journalctl", "-u", "posd", "--no-pager", "-o", "cat"), "Watchdog timeout")

	// The payment is still the till's: the new posd answers for it.
	require.NoError(t, c.Do(ctx, "GET", "/v1/payments/"+p.ID, nil, nil, &p))
	require.Contains(t, []string{"polling", "awaiting_decision"}, p.State)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// descendant finds the process named comm below root (nspawn's pid),
// other than exclude. It waits briefly: after a restart the new process
// may be a moment away.
func descendant(t *testing.T, root int, comm string, exclude int) int {
	t.Helper()
	var found int
	require.NoError(t, harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		parent := map[int]int{}
		names := map[int]string{}
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return false, err
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...
			s := string(b)
			open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if open < 0 || close < open {
				continue
			}
			f := strings.Fields(s[close+1:])
			if len(f) < 2 || f[0] == "Z" {
				continue
			}
			ppid, _ := strconv.Atoi(f[1])
			parent[pid], names[pid] = ppid, s[open+1:close]
		}
		for pid, name := range names {
			if name != comm || pid == exclude {
				continue
			}
			for p := parent[pid]; p > 1; p = parent[p] {
				if p == root {
					found = pid
					return true, nil
				}
			}
		}
		return false, nil
	}), "no %s process below systemd-nspawn (pid %d)", comm, root)
	return found
}

func procUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			uid, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return 0
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
