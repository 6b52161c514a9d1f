package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/config"
)

func TestLoggerFormat(t *testing.T) {
	cases := []struct {
		name     string
		format   string
		env      map[string]string
		wantJSON bool
	}{
		{"auto in a terminal", "auto", nil, false},
		{"auto under systemd (INVOCATION_ID)", "auto", map[string]string{"INVOCATION_ID": "abc"}, true},
		{"auto under systemd (JOURNAL_STREAM)", "auto", map[string]string{"JOURNAL_STREAM": "8:123"}, true},
		{"json forced", "json", nil, true},
		{"console forced under systemd", "console", map[string]string{"INVOCATION_ID": "abc"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var jsonOut, console bytes.Buffer
			log, err := newLogger(config.Log{Format: tc.format, Level: "info"}, func(k string) string { return tc.env[k] }, &jsonOut, &console)
			require.NoError(t, err)
			log.Info("payment paid")
			log.Debug("not at info level")
			require.NoError(t, log.Sync())
			if tc.wantJSON {
				assert.Empty(t, console.String())
				var line map[string]any
				require.NoError(t, json.Unmarshal(jsonOut.Bytes(), &line), jsonOut.String())
				assert.Equal(t, "payment paid", line["msg"])
				assert.Equal(t, "info", line["level"])
				return
			}
			assert.Empty(t, jsonOut.String())
			assert.Contains(t, console.String(), "payment paid")
			assert.NotContains(t, console.String(), "not at info level")
			assert.False(t, strings.HasPrefix(console.String(), "{"))
		})
	}
}

func TestLoggerBadLevel(t *testing.T) {
	_, err := newLogger(config.Log{Format: "auto", Level: "loud"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	assert.Error(t, err)
}
