package money

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Amount
		err  error
	}{
		{"20.00", 2000, nil},
		{"20", 2000, nil},
		{"20.5", 2050, nil},
		{"0.01", 1, nil},
		{"-5.00", -500, nil},
		{"93.31000", 9331, nil},
		{"93.31500", 0, ErrPrecision},
		{"1.001", 0, ErrPrecision},
		{"", 0, ErrSyntax},
		{"1e3", 0, ErrSyntax},
		{"+1", 0, ErrSyntax},
		{"1,00", 0, ErrSyntax},
		{" 1", 0, ErrSyntax},
		{"1.", 0, ErrSyntax},
		{".5", 0, ErrSyntax},
		{"-", 0, ErrSyntax},
		{"99999999999999999", 0, ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err != nil {
				require.Error(t, err)
				assert.True(t, errors.Is(err, tt.err), "got %v, want %v", err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, a := range []Amount{0, 1, 99, 100, 2050, -500, -1, 123456789} {
		got, err := Parse(a.String())
		require.NoError(t, err)
		assert.Equal(t, a, got)
	}
	assert.Equal(t, "-0.01", Amount(-1).String())
	assert.Equal(t, "93.31000", Amount(9331).Decimals(5))
}

func TestJSON(t *testing.T) {
	var v struct{ A Amount }
	require.NoError(t, json.Unmarshal([]byte(`{"A":"12.30"}`), &v))
	assert.Equal(t, Amount(1230), v.A)
	assert.Error(t, json.Unmarshal([]byte(`{"A":12.30}`), &v), "numbers are refused")
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"A":"12.30"}`, string(b))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"20.00", "-1", "93.31000", "x", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		b, err := Parse(a.String())
		if err != nil || a != b {
			t.Fatalf("round trip %q -> %v -> %v (%v)", s, a, b, err)
		}
	})
}
