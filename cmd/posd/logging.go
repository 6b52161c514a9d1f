package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/posd/posd/internal/config"
)

// underSystemd reports whether systemd started us: journald then wants JSON
// lines on stdout (it adds its own timestamps and keeps the fields).
func underSystemd(getenv func(string) string) bool {
	return getenv("INVOCATION_ID") != "" || getenv("JOURNAL_STREAM") != ""
}

// newLogger builds the one zap logger of the process; every component gets it
// (or a child) passed in. console is where human-readable lines go (stderr for
// the CLI and the demo); JSON goes to jsonOut (stdout under systemd).
func newLogger(cfg config.Log, getenv func(string) string, jsonOut, console io.Writer) (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", cfg.Level, err)
	}
	format := cfg.Format
	if format == "auto" {
		format = "console"
		if underSystemd(getenv) {
			format = "json"
		}
	}
	var core zapcore.Core
	switch format {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "time"
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		core = zapcore.NewCore(zapcore.NewJSONEncoder(ec), zapcore.Lock(zapcore.AddSync(jsonOut)), level)
	default:
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		ec.EncodeCaller = nil
		ec.CallerKey = ""
		ec.StacktraceKey = ""
		core = zapcore.NewCore(zapcore.NewConsoleEncoder(ec), zapcore.Lock(zapcore.AddSync(console)), level)
	}
	return zap.New(core, zap.ErrorOutput(zapcore.AddSync(console))), nil
}

// version is the module version and VCS revision stamped by the go tool.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "posd (unknown build)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return v
}

// isTerminal reports whether v (stdin or stdout) is an interactive terminal:
// pay asks questions and redraws its countdown only then.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
