package simctl_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClockAdvance(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := simctl.NewClock(func() time.Time { return t0 })
	assert.Equal(t, t0, c.Now())
	ch := c.Changed()
	select {
	case <-ch:
		t.Fatal("Changed fired before any Advance")
	default:
	}
	c.Advance(240 * time.Hour)
	assert.Equal(t, t0.Add(240*time.Hour), c.Now())
	select {
	case <-ch:
	default:
		t.Fatal("Advance did not wake the waiter")
	}
	c.Advance(-time.Hour) // never backwards
	c.Advance(0)
	assert.Equal(t, 240*time.Hour, c.Offset())
	assert.NotEqual(t, ch, c.Changed(), "a fresh channel for the next Advance")
}

func TestClockControlRoutes(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := simctl.NewClock(func() time.Time { return t0 })
	c := &simctl.Control{Calls: simctl.NewCallLog(0), Faults: simctl.NewFaults(nil), Clock: clock}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	post := func(body string) (int, string) {
		resp, err := srv.Client().Post(srv.URL+"/sim/clock/advance", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post(`{"by":"240h"}`)
	require.Equal(t, 200, status, body)
	var got simctl.ClockResponse
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Equal(t, t0.Add(240*time.Hour), got.Now.UTC())
	assert.Equal(t, "240h0m0s", got.Offset)
	assert.Equal(t, t0.Add(240*time.Hour), clock.Now())

	for _, bad := range []string{`{"by":"-1h"}`, `{"by":"soon"}`, `{"by":"100000h"}`, `{"until":"1h"}`} {
		status, body = post(bad)
		assert.Equal(t, 400, status, bad)
		assert.Contains(t, body, `"field"`, bad)
	}
	assert.Equal(t, t0.Add(240*time.Hour), clock.Now(), "refused requests leave the clock")

	resp, err := srv.Client().Get(srv.URL + "/sim/clock")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// Without a Clock the routes do not exist.
	plain := httptest.NewServer((&simctl.Control{Calls: simctl.NewCallLog(0), Faults: simctl.NewFaults(nil)}).Handler())
	defer plain.Close()
	resp, err = plain.Client().Post(plain.URL+"/sim/clock/advance", "application/json", strings.NewReader(`{"by":"1h"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
