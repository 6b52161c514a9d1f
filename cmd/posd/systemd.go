package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/posd/posd/internal/register"
)

// notifier tells systemd how posd is doing (sd_notify). Without NOTIFY_SOCKET
// (not under systemd, or Type=simple) every call is a no-op.
type notifier struct {
	log *zap.Logger
}

func (n notifier) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", zap.String("state", firstLine(state)), zap.Error(err))
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// watchdogInterval is WatchdogSec as systemd passed it (WATCHDOG_USEC for our
// pid), or 0 when the watchdog is off.
func watchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0
	}
	return d
}

// watchdogLoop pings WATCHDOG=1 every third of the interval, each ping
// after a health check bounded to a sixth of it, so that a ping is never more
// than half the interval after the previous one even when a check runs to its
// timeout. A posd whose store or register is stuck stops pinging, and systemd
// kills and restarts it (well inside SEQR's 20 s reversal window). A single
// failed check (a transient stall: a slow fsync, a busy database) still
// pings; only two consecutive failures stop the pings, so a real hang is
// killed within WatchdogSec of the last ping, about 1.5 times WatchdogSec
// after it began.
func watchdogLoop(ctx context.Context, interval time.Duration, check func(context.Context) error, notify func(string), log *zap.Logger) error {
	if interval <= 0 {
		return nil
	}
	period := interval / 3
	t := time.NewTicker(period)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// The check must finish well before the next ping is due.
		cctx, cancel := context.WithTimeout(ctx, period/2)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			switch failures {
			case 1:
				log.Warn("health check failed: pinging the watchdog once more", zap.Error(err))
			case 2:
				log.Error("health check failed twice in a row: not pinging the watchdog", zap.Error(err))
			}
			if failures >= 2 {
				continue
			}
		} else {
			if failures >= 2 {
				log.Info("health check passes again")
			}
			failures = 0
		}
		notify("WATCHDOG=1")
	}
}

// statusLine is what `systemctl status posd` shows: what the till is doing.
func statusLine(st register.Status) string {
	parts := []string{}
	if st.Ready {
		parts = append(parts, "ready")
	} else {
		parts = append(parts, "recovering open payments")
	}
	for _, p := range st.Providers {
		if !p.Ready && p.NotReady != "" {
			parts = append(parts, providerTitle(p.Name)+" not ready: "+p.NotReady)
		}
		if p.Reachable {
			parts = append(parts, providerTitle(p.Name)+" reachable")
		} else if p.LastChecked != nil {
			parts = append(parts, providerTitle(p.Name)+" UNREACHABLE")
		}
	}
	if st.Storage != "" && st.Storage != "ok" && st.Storage != "unchecked" {
		parts = append(parts, "storage: "+st.Storage)
	}
	if p := st.Printer; p != nil {
		switch {
		case !p.Online:
			parts = append(parts, "printer offline")
		case p.CoverOpen:
			parts = append(parts, "printer cover open")
		case p.Paper == "out":
			parts = append(parts, "printer out of paper")
		case p.Paper == "near_end":
			parts = append(parts, "printer paper near end")
		default:
			parts = append(parts, "printer ok")
		}
		if p.Queued > 0 {
			parts = append(parts, fmt.Sprintf("%d receipts queued", p.Queued))
		}
	}
	if s := st.Scanner; s != nil {
		if s.Connected {
			parts = append(parts, "scanner ok")
		} else {
			parts = append(parts, "scanner disconnected")
		}
	}
	if st.Open > 0 {
		parts = append(parts, fmt.Sprintf("%d open payments", st.Open))
	}
	return strings.Join(parts, "; ")
}

// providerTitle is how people write a provider's name.
func providerTitle(name string) string {
	switch name {
	case "seqr":
		return "SEQR"
	case "resurs":
		return "Resurs"
	case "payson":
		return "Payson"
	}
	return name
}
