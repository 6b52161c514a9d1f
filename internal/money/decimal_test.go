package money

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDecimalGrammar(t *testing.T) {
	tests := []struct {
		in, out string
		err     error
	}{
		{"25", "25", nil},
		{"0.5", "0.5", nil},
		{"2.50", "2.50", nil},
		{"-5.00", "-5.00", nil},
		{"007", "7", nil},
		{"-0", "0", nil},
		{"93.31000", "93.31000", nil},
		{"0.000000000000000000000000000001", "0.000000000000000000000000000001", nil},
		{"", "", ErrSyntax},
		{"-", "", ErrSyntax},
		{"1.", "", ErrSyntax},
		{".5", "", ErrSyntax},
		{"+1", "", ErrSyntax},
		{"1e3", "", ErrSyntax},
		{"1,5", "", ErrSyntax},
		{" 1", "", ErrSyntax},
		{"1 ", "", ErrSyntax},
		{"1.2.3", "", ErrSyntax},
		{"--1", "", ErrSyntax},
		{"١", "", ErrSyntax}, // Arabic-Indic digit one: digits are ASCII only
		{strings.Repeat("9", MaxDigits), strings.Repeat("9", MaxDigits), nil},
		{strings.Repeat("9", MaxDigits+1), "", ErrRange},
		{"0." + strings.Repeat("0", MaxDigits), "", ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDecimal(tt.in)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.out, d.String())
		})
	}
}

func TestDecimalCmpIgnoresTrailingZeros(t *testing.T) {
	assert.Equal(t, 0, MustDecimal("1.50").Cmp(MustDecimal("1.5")))
	assert.Equal(t, -1, MustDecimal("0.999").Cmp(MustDecimal("1")))
	assert.Equal(t, 1, MustDecimal("100.01").CmpInt(100))
	assert.Equal(t, 0, MustDecimal("100.000").CmpInt(100))
	assert.Equal(t, -1, MustDecimal("-0.001").CmpInt(0))
	assert.Equal(t, 0, Decimal{}.CmpInt(0), "the zero value is 0")
	assert.Equal(t, "0", Decimal{}.String())
}

func TestDecimalScaledIsExact(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want int64
		err  error
	}{
		{"12.5", 4, 125000, nil},
		{"6.25", 4, 62500, nil},
		{"25", 4, 250000, nil},
		{"12.50000", 4, 125000, nil},
		{"12.50001", 4, 0, ErrPrecision},
		{"9223372036854775807", 0, 9223372036854775807, nil},
		{"9223372036854775808", 0, 0, ErrRange},
		{"-9223372036854775808", 0, -9223372036854775808, nil},
		{"92233720368547758.08", 2, 0, ErrRange},
	}
	for _, tt := range tests {
		got, err := MustDecimal(tt.in).Scaled(tt.n)
		if tt.err != nil {
			assert.ErrorIs(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestDecimalMulAmount(t *testing.T) {
	tests := []struct {
		qty, unit, want string
		err             error
	}{
		{"2", "10.00", "20.00", nil},
		{"0.5", "25.00", "12.50", nil},
		{"0.333", "30.00", "9.99", nil},
		{"1.5", "-4.00", "-6.00", nil},
		{"0.5", "0.01", "", ErrPrecision},
		{"0.001", "39.90", "", ErrPrecision},
		{"100000000000", "100000000.00", "", ErrRange},
	}
	for _, tt := range tests {
		got, err := MustDecimal(tt.qty).MulAmount(MustParse(tt.unit))
		if tt.err != nil {
			assert.ErrorIs(t, err, tt.err, "%s x %s", tt.qty, tt.unit)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.String(), "%s x %s", tt.qty, tt.unit)
	}
}

func TestDecimalJSONReadsStringsAndNumbersExactly(t *testing.T) {
	var v struct {
		S Decimal `json:"s"`
		N Decimal `json:"n"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"s":"0.10","n":30.00000}`), &v))
	assert.Equal(t, "0.10", v.S.String())
	assert.Equal(t, "30.00000", v.N.String(), "a JSON number's text is kept, never rounded through a float")
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"s":"0.10","n":"30.00000"}`, string(b))
	assert.ErrorIs(t, json.Unmarshal([]byte(`{"n":1e2}`), &v), ErrSyntax)
	assert.ErrorIs(t, json.Unmarshal([]byte(`{"s":"1e2"}`), &v), ErrSyntax)
}

func TestAmountDecimalRoundTrip(t *testing.T) {
	for _, a := range []Amount{0, 1, -1, 2050, 9331, -123456789} {
		d := a.Decimal()
		assert.Equal(t, a.String(), d.String())
		back, err := d.Amount()
		require.NoError(t, err)
		assert.Equal(t, a, back)
	}
}

// FuzzDecimal: whatever ParseDecimal accepts renders back to text that
// parses to the same value and scale; Cmp agrees with exact rationals; and
// MulAmount either is exact or says why not.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"25", "0.5", "-5.00", "93.31000", "007", "1e3", ".5", "12.5", strings.Repeat("9", 41)} {
		f.Add(s, s, int64(1999))
	}
	f.Fuzz(func(t *testing.T, a, b string, unit int64) {
		d, err := ParseDecimal(a)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrRange) {
				t.Fatalf("%q: error %v is neither ErrSyntax nor ErrRange", a, err)
			}
			return
		}
		again, err := ParseDecimal(d.String())
		if err != nil || again.Cmp(d) != 0 || again.Scale() != d.Scale() {
			t.Fatalf("round trip %q -> %q -> %v (%v)", a, d.String(), again, err)
		}
		ra, ok := new(big.Rat).SetString(a)
		if !ok {
			t.Fatalf("%q accepted but not a rational", a)
		}
		if e, err := ParseDecimal(b); err == nil {
			rb, _ := new(big.Rat).SetString(b)
			if got, want := d.Cmp(e), ra.Cmp(rb); got != want {
				t.Fatalf("Cmp(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
		p, err := d.MulAmount(Amount(unit))
		exact := new(big.Rat).Mul(ra, big.NewRat(unit, 100))
		exact.Mul(exact, big.NewRat(100, 1))
		switch {
		case err == nil:
			if !exact.IsInt() || exact.Num().Int64() != int64(p) || !exact.Num().IsInt64() {
				t.Fatalf("%q x %d = %d, want %s", a, unit, p, exact.RatString())
			}
		case errors.Is(err, ErrPrecision):
			if exact.IsInt() {
				t.Fatalf("%q x %d: ErrPrecision but %s is whole", a, unit, exact.RatString())
			}
		case errors.Is(err, ErrRange):
			if exact.IsInt() && exact.Num().IsInt64() {
				t.Fatalf("%q x %d: ErrRange but %s fits", a, unit, exact.RatString())
			}
		default:
			t.Fatalf("%q x %d: unexpected error %v", a, unit, err)
		}
	})
}
