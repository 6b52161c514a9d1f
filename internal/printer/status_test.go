package printer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApplyRealTime(t *testing.T) {
	tests := []struct {
		name  string
		n, b  byte
		want  Condition
		ready bool
		paper string
	}{
		{"1 all clear", 1, 0x12, Condition{}, true, "ok"},
		{"1 all clear drawer high", 1, 0x16, Condition{DrawerPin3High: true}, true, "ok"},
		{"1 offline", 1, 0x1A, Condition{Offline: true}, false, "ok"},
		{"1 waiting recovery, feed", 1, 0x72, Condition{WaitingRecovery: true, FeedButton: true}, true, "ok"},
		{"2 cover open", 2, 0x16, Condition{CoverOpen: true}, false, "ok"},
		{"2 paper end stop", 2, 0x32, Condition{PaperEndStop: true}, false, "out"},
		{"2 error", 2, 0x52, Condition{ErrorOccurred: true}, false, "ok"},
		{"2 fed by button", 2, 0x1A, Condition{PaperFed: true}, true, "ok"},
		{"3 cutter", 3, 0x1A, Condition{CutterError: true}, false, "ok"},
		{"3 unrecoverable", 3, 0x32, Condition{UnrecoverableError: true}, false, "ok"},
		{"3 auto recoverable", 3, 0x52, Condition{AutoRecoverableError: true}, false, "ok"},
		{"3 recoverable", 3, 0x16, Condition{RecoverableError: true}, false, "ok"},
		{"4 near end", 4, 0x1E, Condition{PaperNearEnd: true}, true, "near_end"},
		{"4 paper end", 4, 0x72, Condition{PaperEnd: true}, false, "out"},
		{"4 both", 4, 0x7E, Condition{PaperEnd: true, PaperNearEnd: true}, false, "out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Condition
			require.NoError(t, ApplyRealTime(&c, tc.n, tc.b))
			assert.Equal(t, tc.want, c)
			assert.Equal(t, tc.ready, c.Ready())
			assert.Equal(t, tc.paper, c.Paper())
			assert.Equal(t, tc.ready, c.Problem() == "")
		})
	}
}

func TestApplyRealTimeInvalid(t *testing.T) {
	var c Condition
	for _, b := range []byte{0x00, 0x10, 0x13, 0x92, 0xFF} {
		require.ErrorIs(t, ApplyRealTime(&c, 1, b), ErrBadStatus, "%#x", b)
	}
	require.ErrorIs(t, ApplyRealTime(&c, 5, 0x12), ErrBadStatus)
}

func TestParseASB(t *testing.T) {
	c, err := ParseASB([4]byte{0x10, 0, 0, 0})
	require.NoError(t, err)
	assert.True(t, c.Ready())
	c, err = ParseASB([4]byte{0x38, 0x08, 0x0C, 0})
	require.NoError(t, err)
	assert.Equal(t, Condition{Offline: true, CoverOpen: true, CutterError: true, PaperEnd: true}, c)
	c, err = ParseASB([4]byte{0x14, 0, 0x03, 0})
	require.NoError(t, err)
	assert.Equal(t, Condition{DrawerPin3High: true, PaperNearEnd: true}, c)
	_, err = ParseASB([4]byte{0x12, 0, 0, 0})
	require.ErrorIs(t, err, ErrBadStatus)
	_, err = ParseASB([4]byte{0x10, 0x10, 0, 0})
	require.ErrorIs(t, err, ErrBadStatus)
}

func TestParseConfirm(t *testing.T) {
	ne, end, err := ParseConfirm(0x00)
	require.NoError(t, err)
	assert.False(t, ne || end)
	ne, end, err = ParseConfirm(0x0F)
	require.NoError(t, err)
	assert.True(t, ne && end)
	_, _, err = ParseConfirm(0x10)
	require.ErrorIs(t, err, ErrBadStatus)
}

func TestStatusStream(t *testing.T) {
	var s StatusStream
	feed := func(bs ...byte) []Reply {
		var out []Reply
		for _, b := range bs {
			if r, ok := s.Feed(b); ok {
				out = append(out, r)
			}
		}
		return out
	}
	// unrequested bytes are skipped
	assert.Empty(t, feed(0x12, 0x00, 0xFF))
	// requested replies in order
	s.Expect(2)
	s.Expect(4)
	assert.Equal(t, []Reply{{Kind: ReplyRealTime, N: 2, Bytes: [4]byte{0x16}}, {Kind: ReplyRealTime, N: 4, Bytes: [4]byte{0x72}}}, feed(0x16, 0x72))
	assert.False(t, s.Pending())
	// an unrequested ASB in the middle of a pending request
	s.Expect(1)
	s.ExpectConfirm()
	got := feed(0x10, 0x00, 0x0C, 0x00, 0x12, 0x00)
	assert.Equal(t, []Reply{
		{Kind: ReplyASB, Bytes: [4]byte{0x10, 0x00, 0x0C, 0x00}},
		{Kind: ReplyRealTime, N: 1, Bytes: [4]byte{0x12}},
		{Kind: ReplyConfirm},
	}, got)
	// block data is skipped up to NUL, then a confirm
	s.ExpectConfirm()
	assert.Equal(t, []Reply{{Kind: ReplyConfirm, Bytes: [4]byte{0x03}}}, feed(0x5F, 'T', 'M', '-', 0x00, 0x03))
	// a broken ASB start followed by a real-time reply
	s.Expect(4)
	assert.Equal(t, []Reply{{Kind: ReplyRealTime, N: 4, Bytes: [4]byte{0x12}}}, feed(0x10, 0x00, 0x12))
	s.Expect(1)
	s.Reset()
	assert.False(t, s.Pending())
}

// FuzzDecodeStatus feeds arbitrary printer output against arbitrary
// requests (F4): no panic, every reply returned is valid for its kind, and
// no more real-time or confirm replies come out than were asked for.
func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte{1, 2, 4}, []byte{0x12, 0x16, 0x72}, uint8(1))
	f.Add([]byte{4}, []byte{0x10, 0, 0x0C, 0, 0x72, 0x00}, uint8(1))
	f.Add([]byte{}, []byte{0x35, 'a', 'b', 0, 0x10, 0x20, 0x00, 0x00, 0x00}, uint8(0))
	f.Add([]byte{2}, []byte{0xFF, 0x93, 0x10, 0x10, 0x10, 0x12}, uint8(3))
	f.Fuzz(func(t *testing.T, reqs []byte, in []byte, confirms uint8) {
		var s StatusStream
		for _, n := range reqs {
			s.Expect(n%4 + 1)
		}
		for i := 0; i < int(confirms%8); i++ {
			s.ExpectConfirm()
		}
		var rt, cf int
		for _, b := range in {
			r, ok := s.Feed(b)
			if !ok {
				continue
			}
			switch r.Kind {
			case ReplyRealTime:
				rt++
				var c Condition
				require.NoError(t, ApplyRealTime(&c, r.N, r.Bytes[0]))
				_ = c.Ready()
				_ = c.Paper()
			case ReplyASB:
				c, err := ParseASB(r.Bytes)
				require.NoError(t, err)
				_ = c.Problem()
			case ReplyConfirm:
				cf++
				_, _, err := ParseConfirm(r.Bytes[0])
				require.NoError(t, err)
			default:
				t.Fatalf("unknown reply kind %d", r.Kind)
			}
		}
		require.LessOrEqual(t, rt, len(reqs))
		require.LessOrEqual(t, cf, int(confirms%8))
		// every single byte also decodes or fails cleanly on its own
		for _, b := range in {
			var c Condition
			_ = ApplyRealTime(&c, b%5, b)
			_, _, _ = ParseConfirm(b)
		}
	})
}
