package printer

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/printer/escposdecode"
	"github.com/posd/posd/internal/receipt"
)

// TestQRDataECISegment: the exact data codewords of "Café" (not plain
// ASCII): the ECI segment (mode 0111, designator 26 = UTF-8), then the byte
// segment (mode 0100, count 5, the UTF-8 bytes), terminator, pad codewords.
func TestQRDataECISegment(t *testing.T) {
	got := qrData([]byte("Café"), ECIUTF8, 1)
	want := []byte{
		0x71, 0xA4, // 0111 (ECI) 00011010 (26) 0100 (byte mode)
		0x05,                         // 5 bytes
		0x43, 0x61, 0x66, 0xC3, 0xA9, // C a f é (UTF-8)
		0x00,                                     // terminator 0000, then pad bits to the byte
		0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, // pad codewords to version 1-M's 16
	}
	assert.Equal(t, want, got)
	// Without an ECI, byte mode at once (what GS ( k would get for ASCII).
	assert.Equal(t, []byte{0x40, 0x54, 0x86, 0x56, 0xC6, 0xC6, 0xF0, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC}, qrData([]byte("Hello"), 0, 1))
}

func TestQRNeedsECI(t *testing.T) {
	assert.False(t, qrNeedsECI("2026112118350212301032678"))
	assert.False(t, qrNeedsECI("https://seqr.example/r/8201234567890123?a=b&c={d}"))
	assert.True(t, qrNeedsECI("https://seqr.example/kvitto/Å-1"))
	assert.True(t, qrNeedsECI("€"))
}

// TestQRReceiptBytes: a receipt whose QR data is not plain ASCII prints
// the QR code as posd's own symbol (GS v 0: exact header, the finder's top
// row in the first bytes), centred, and the symbol read back says ECI 26
// and the exact text; ASCII data still goes to GS ( k, with no ECI.
func TestQRReceiptBytes(t *testing.T) {
	d := receipt.Document{Header: []string{"Café"}, QR: "Café"}
	b, err := EncodeDocument(nil, d, ReceiptOptions{Columns: 48, QRSize: 2})
	require.NoError(t, err)
	// Version 1: 21 modules at 2 dots = 42 dots square, 6 bytes a row.
	head := []byte{0x1B, 0x61, 0x01, 0x1D, 0x76, 0x30, 0x00, 0x06, 0x00, 0x2A, 0x00}
	i := bytes.Index(b, head)
	require.GreaterOrEqual(t, i, 0, "ESC a 1, GS v 0 m=0 x=6 y=42 in % X", b)
	row := b[i+len(head) : i+len(head)+6]
	assert.Equal(t, []byte{0xFF, 0xFC}, row[:2], "7 dark modules of the finder, 2 dots each")
	assert.NotContains(t, string(b), "\x1D\x28\x6B", "no GS ( k for data that needs an ECI")

	cmds, err := escposdecode.Decode(b)
	require.NoError(t, err)
	qrs := escposdecode.Render(cmds).QRs()
	require.Len(t, qrs, 1)
	assert.Equal(t, "Café", qrs[0].Text)
	assert.Equal(t, ECIUTF8, qrs[0].ECI)
	assert.Equal(t, byte(1), qrs[0].Align)

	d.QR = "Cafe"
	b, err = EncodeDocument(nil, d, ReceiptOptions{Columns: 48})
	require.NoError(t, err)
	assert.Contains(t, string(b), "\x1D\x28\x6B\x07\x00\x31\x50\x30Cafe", "ASCII: the printer's own QR command")
	assert.NotContains(t, string(b), "\x1D\x76\x30")
}

// TestQRRoundTrip encodes data of many lengths (versions 1 to 40, one and
// many blocks, with and without version information) and reads every
// symbol back with escposdecode's reader, written apart from the encoder.
func TestQRRoundTrip(t *testing.T) {
	for _, n := range []int{2, 10, 14, 50, 120, 200, 250, 400, 800, 1300, 1500, 2000, 2317} {
		for _, eci := range []int{0, ECIUTF8} {
			data := strings.Repeat("SEQR 2026-a/", n)[:n]
			if eci != 0 {
				data = "å" + data[2:] // n bytes, not plain ASCII
			}
			sym, err := EncodeQR([]byte(data), eci)
			require.NoError(t, err, "%d bytes", n)
			var e Encoder
			e.QRRaster(sym, 2)
			cmds, err := escposdecode.Decode(e.Bytes())
			require.NoError(t, err)
			qrs := escposdecode.Render(cmds).QRs()
			require.Len(t, qrs, 1, "%d bytes, version %d", n, sym.Version)
			assert.Equal(t, data, qrs[0].Text, "%d bytes, version %d", n, sym.Version)
			assert.Equal(t, eci, qrs[0].ECI)
		}
	}
	_, err := EncodeQR(make([]byte, 2400), ECIUTF8)
	assert.ErrorIs(t, err, ErrQRTooLong)
}

// TestQRRasterBands: a symbol taller than 255 dots goes out in bands of at
// most 255 rows that join into one image.
func TestQRRasterBands(t *testing.T) {
	sym, err := EncodeQR([]byte(strings.Repeat("å", 100)), ECIUTF8)
	require.NoError(t, err)
	var e Encoder
	e.QRRaster(sym, 6)
	cmds, err := escposdecode.Decode(e.Bytes())
	require.NoError(t, err)
	var bands int
	for _, c := range cmds {
		if c.Op == "GS v" {
			bands++
			assert.LessOrEqual(t, int(c.Args[4])+int(c.Args[5])*256, 255)
		}
	}
	assert.Equal(t, (sym.Size*6+254)/255, bands)
	qrs := escposdecode.Render(cmds).QRs()
	require.Len(t, qrs, 1)
	assert.Equal(t, strings.Repeat("å", 100), qrs[0].Text)
}

// TestLayoutQRSizes: the size decision counts the ECI header, a QR code
// too large for a symbol is left out, and the module shrinks to the paper.
func TestLayoutQRSizes(t *testing.T) {
	d := receipt.Document{QR: strings.Repeat("å", 1165) + "a"} // 2331 bytes: version 40 holds them only without an ECI
	for _, l := range Layout(d, ReceiptOptions{Columns: 48}) {
		assert.NotEqual(t, receipt.LineQR, l.Kind, "2330 bytes plus an ECI do not fit a QR code")
	}
	d.QR = strings.Repeat("a", 2331)
	var found bool
	for _, l := range Layout(d, ReceiptOptions{Columns: 48}) {
		if l.Kind == receipt.LineQR {
			found = true
			assert.Equal(t, 3, l.Module, "177 modules on 576 dots: 3 dots each")
		}
	}
	assert.True(t, found)
	for _, l := range Layout(d, ReceiptOptions{Columns: 32}) {
		if l.Kind == receipt.LineQR {
			assert.Equal(t, 2, l.Module, "177 modules on 384 dots: 2 dots each")
		}
	}
}

// TestQRWithJSQR has a third-party decoder (jsQR, npm) read posd's symbols
// and report their ECI segments. It needs node and
// `npm install --prefix internal/printer/testdata/qrcheck`.
func TestQRWithJSQR(t *testing.T) {
	dir := filepath.Join("testdata", "qrcheck")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "jsqr"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("jsQR is not installed and CI must run the third-party check (.ci/run installs it): %v", err)
		}
		t.Skipf("jsQR is not installed (npm install --prefix internal/printer/testdata/qrcheck); the exact-byte and round-trip tests above still run: %v", err)
	}
	type in struct {
		Size    int    `json:"size"`
		Modules string `json:"modules"`
	}
	texts := []string{"Åsas Örtagård & Café 2026112118350212301032678", "2026112118350212301032678", "https://seqr.example/kvitto/Å-1?x=1&y=€",
		strings.Repeat("Blåbär ", 60)}
	ecis := []int{ECIUTF8, 0, ECIUTF8, ECIUTF8}
	var syms []in
	for i, s := range texts {
		sym, err := EncodeQR([]byte(s), ecis[i])
		require.NoError(t, err)
		var sb strings.Builder
		for _, d := range sym.Dark {
			sb.WriteByte("01"[b2u(d)])
		}
		syms = append(syms, in{sym.Size, sb.String()})
	}
	payload, err := json.Marshal(syms)
	require.NoError(t, err)
	cmd := exec.Command(node, filepath.Join(dir, "check.js"))
	cmd.Stdin = bytes.NewReader(payload)
	out, err := cmd.Output()
	require.NoError(t, err)
	var got []*struct {
		Data    string `json:"data"`
		ECI     []int  `json:"eci"`
		Version int    `json:"version"`
	}
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got, len(texts))
	for i, g := range got {
		require.NotNil(t, g, "jsQR could not read %q", texts[i])
		assert.Equal(t, texts[i], g.Data)
		if ecis[i] == 0 {
			assert.Empty(t, g.ECI)
		} else {
			assert.Equal(t, []int{ECIUTF8}, g.ECI)
		}
	}
}

func TestQRModuleSize(t *testing.T) {
	tests := []struct {
		v, dots, margin int
		want            byte
		ok              bool
	}{
		{2, 576, 24, 6, true},  // 25 modules: 150 dots
		{2, 384, 24, 6, true},  // 150 of 384
		{10, 384, 24, 6, true}, // 57 modules: 342 dots, 21 + 24 of quiet >= 24
		{13, 384, 24, 5, true}, // 69 modules: 6 would be 414 > 384
		{40, 384, 24, 2, true}, // 177 modules: 354 dots
		{40, 384, 0, 2, true},  // 15 dots each side >= 8
		{40, 320, 24, 0, false},
	}
	for _, tc := range tests {
		got, err := QRModuleSize(tc.v, tc.dots, tc.margin, 6)
		if !tc.ok {
			assert.ErrorIs(t, err, ErrQRTooLong)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "version %d on %d dots", tc.v, tc.dots)
	}
	got, err := QRModuleSize(1, 576, 24, 1)
	require.NoError(t, err)
	assert.Equal(t, byte(2), got, "never below 2 dots: a 1-dot module does not scan off thermal paper")
}
