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

// watchdogLoop pings WATCHDOG=1 at half the interval, but only while check
// passes: a posd whose store or register is stuck stops pinging, and systemd
// kills and restarts it (well inside SEQR's 20 s reversal window).
func watchdogLoop(ctx context.Context, interval time.Duration, check func(context.Context) error, notify func(string), log *zap.Logger) error {
	if interval <= 0 {
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// The check must finish before the next ping is due.
		cctx, cancel := context.WithTimeout(ctx, interval/4)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !failing {
				log.Error("health check failed: not pinging the watchdog", zap.Error(err))
			}
			failing = true
			continue
		}
		if failing {
			log.Info("health check passes again")
			failing = false
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
	switch {
	case !st.Terminal.Registered:
		parts = append(parts, "terminal not registered")
	case st.Terminal.SeqrID == "":
		parts = append(parts, "no SEQR id")
	}
	if st.Provider.Reachable {
		parts = append(parts, "SEQR reachable")
	} else if st.Provider.LastChecked != nil {
		parts = append(parts, "SEQR UNREACHABLE")
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
