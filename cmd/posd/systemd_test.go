package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/scanner"
)

const unitPath = "../../deploy/systemd/posd.service"

// unitSettings reads the unit's Key=Value lines (comments skipped); a key may repeat.
func unitSettings(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitPath)
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "not Key=Value: %q", line)
		out[k] = append(out[k], v)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestUnitSettings(t *testing.T) {
	s := unitSettings(t)
	want := map[string]string{
		"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "5", "Restart": "always", "RestartSec": "1",
		"DynamicUser": "yes", "StateDirectory": "posd", "ConfigurationDirectory": "posd", "DevicePolicy": "closed",
		"LimitCORE": "0", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "RestrictNamespaces": "yes",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
		"ProtectControlGroups": "yes", "ProtectClock": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
		"UMask": "0077", "SupplementaryGroups": "dialout lp",
	}
	for k, v := range want {
		require.Contains(t, s, k)
		assert.Equal(t, v, s[k][0], k)
	}
	assert.NotContains(t, s, "PrivateDevices", "PrivateDevices hides the scanner and printer ttys")
	assert.Contains(t, s["SystemCallFilter"], "@system-service")
	assert.ElementsMatch(t, []string{"char-ttyUSB rw", "char-ttyACM rw", "char-usb rw"}, s["DeviceAllow"])

	// Hang -> watchdog kill -> restart -> recovery's first poll (2 s) must fit
	// well inside SEQR's 20 s reversal window.
	wd, err := strconv.Atoi(s["WatchdogSec"][0])
	require.NoError(t, err)
	rs, err := strconv.Atoi(s["RestartSec"][0])
	require.NoError(t, err)
	// watchdogLoop stops pinging after the second failed check in a row, up
	// to half of WatchdogSec after a hang began; systemd kills WatchdogSec
	// after the last ping.
	assert.LessOrEqual(t, float64(wd)*1.5+float64(rs)+2, 12.0, "watchdog + restart + recovery budget")
}

func TestUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		skipOutsideCI(t, "systemd-analyze not installed (%v): install systemd to check the unit", err)
	}
	// verify checks that ExecStart exists; point it at this test binary.
	b, err := os.ReadFile(unitPath)
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	unit := filepath.Join(t.TempDir(), "posd.service")
	require.NoError(t, os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/posd", exe)), 0o644))

	out, err := exec.Command(tool, "verify", "--man=no", unit).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify: %s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "verify warnings")
}

func TestUnitSecurityExposure(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		skipOutsideCI(t, "systemd-analyze not installed (%v): install systemd to score the unit", err)
	}
	out, err := exec.Command(tool, "security", "--offline=true", "--no-pager", unitPath).CombinedOutput()
	if err != nil && strings.Contains(string(out), "unrecognized option") {
		t.Skipf("this systemd-analyze has no --offline (systemd < 250): %s", out)
	}
	m := regexp.MustCompile(`Overall exposure level for posd\.service: ([0-9.]+)`).FindSubmatch(out)
	require.NotNil(t, m, "no exposure level in: %s", out)
	score, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	t.Logf("systemd-analyze security exposure: %.1f", score)
	assert.LessOrEqual(t, score, 2.0, "reliability.md S8 target")
}

func TestWatchdogLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 6 * time.Second // WatchdogSec
		var mu sync.Mutex
		var pings []time.Time
		mode := "ok" // what the next checks do: ok, fail, hang
		var maxTimeout time.Duration
		notify := func(s string) {
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, "WATCHDOG=1", s)
			pings = append(pings, time.Now())
		}
		check := func(ctx context.Context) error {
			mu.Lock()
			m := mode
			if dl, ok := ctx.Deadline(); ok {
				maxTimeout = max(maxTimeout, time.Until(dl))
			} else {
				maxTimeout = time.Hour
			}
			mu.Unlock()
			switch m {
			case "fail":
				return errors.New("store stuck")
			case "hang":
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}
		setMode := func(m string) { mu.Lock(); mode = m; mu.Unlock() }
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(pings) }
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- watchdogLoop(ctx, interval, check, notify, zap.NewNop()) }()

		// A third of the interval: a ping every 2 s.
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		assert.Equal(t, 1, count())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, 2, count())

		// One transient stall: the check times out, posd still pings (late,
		// but well inside WatchdogSec of the previous ping).
		setMode("hang")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		setMode("ok")
		time.Sleep(2 * time.Second) // past the stalled check's timeout and the next tick
		synctest.Wait()
		require.Equal(t, 4, count(), "a single failed check must not stop the pings")

		// One failed check between good ones: still pinging.
		setMode("fail")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		setMode("ok")
		assert.Equal(t, 5, count())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, 6, count())

		// A real hang: the first failed check still pings, the second and
		// later do not, so systemd kills posd within WatchdogSec of that ping.
		setMode("hang")
		time.Sleep(20 * time.Second)
		synctest.Wait()
		assert.Equal(t, 7, count(), "pings must stop after two consecutive failed checks")

		mu.Lock()
		prev := start
		for i, p := range pings {
			assert.Less(t, p.Sub(prev), interval/2+time.Millisecond, "ping %d came %v after the previous one", i, p.Sub(prev))
			prev = p
		}
		assert.Less(t, maxTimeout, interval/3, "the check's timeout must end before the next ping is due")
		mu.Unlock()

		cancel()
		require.NoError(t, <-done)
	})
}

func TestWatchdogLoopOffWithoutInterval(t *testing.T) {
	err := watchdogLoop(t.Context(), 0, nil, nil, zap.NewNop())
	assert.NoError(t, err)
}

func TestStatusLine(t *testing.T) {
	now := time.Now()
	ok := register.Status{Ready: true, Terminal: register.Terminal{Registered: true, SeqrID: "ABC"},
		Providers: []register.ProviderStatus{{Name: "seqr", Ready: true, Reachable: true, LastChecked: &now}}, Storage: "ok"}
	cases := []struct {
		name string
		st   func(register.Status) register.Status
		want string
	}{
		{"all good", func(s register.Status) register.Status { return s }, "ready; SEQR reachable"},
		{"printer", func(s register.Status) register.Status {
			s.Printer = &printer.Status{Online: true, Paper: "ok"}
			return s
		}, "ready; SEQR reachable; printer ok"},
		{"paper near end, scanner gone", func(s register.Status) register.Status {
			s.Printer = &printer.Status{Online: true, Paper: "near_end", Queued: 2}
			s.Scanner = &scanner.Status{Connected: false}
			return s
		}, "ready; SEQR reachable; printer paper near end; 2 receipts queued; scanner disconnected"},
		{"offline", func(s register.Status) register.Status {
			s.Providers = []register.ProviderStatus{{Name: "seqr", Ready: true, Reachable: false, LastChecked: &now}}
			s.Open = 1
			return s
		}, "ready; SEQR UNREACHABLE; 1 open payments"},
		{"not registered", func(s register.Status) register.Status {
			s.Providers = []register.ProviderStatus{{Name: "seqr", NotReady: "terminal not registered: register the till first", Reachable: true, LastChecked: &now}}
			s.Ready = false
			return s
		}, "recovering open payments; SEQR not ready: terminal not registered: register the till first; SEQR reachable"},
		{"three providers, one down", func(s register.Status) register.Status {
			s.Providers = append(s.Providers, register.ProviderStatus{Name: "resurs", Ready: true, Reachable: true, LastChecked: &now},
				register.ProviderStatus{Name: "payson", Ready: true, Reachable: false, LastChecked: &now})
			return s
		}, "ready; SEQR reachable; Resurs reachable; Payson UNREACHABLE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, statusLine(tc.st(ok)))
		})
	}
}

// skipOutsideCI skips with the reason on a developer's machine and fails
// under CI (CI=true), which installs systemd and must check the unit.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run this test: "+format, args...)
	}
	t.Skipf(format, args...)
}
