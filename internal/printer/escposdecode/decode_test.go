package escposdecode

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeCommands(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ops  []string
	}{
		{"prologue", []byte{0x1B, 0x40, 0x1B, 0x52, 0, 0x1B, 0x74, 19}, []string{"ESC @", "ESC R", "ESC t"}},
		{"kanji off", []byte{0x1C, 0x2E}, []string{"FS ."}},
		{"text lf", []byte("ab\ncd\n"), []string{"TEXT", "LF", "TEXT", "LF"}},
		{"styles", []byte{0x1B, 0x45, 1, 0x1B, 0x2D, 1, 0x1D, 0x21, 0x11, 0x1B, 0x61, 1}, []string{"ESC E", "ESC -", "GS !", "ESC a"}},
		{"cut", []byte{0x1D, 0x56, 66, 3, 0x1D, 0x56, 0}, []string{"GS V", "GS V"}},
		{"drawer", []byte{0x1B, 0x70, 0, 50, 50}, []string{"ESC p"}},
		{"status", []byte{0x10, 0x04, 2, 0x1D, 0x72, 1, 0x1D, 0x61, 0xFF}, []string{"DLE EOT", "GS r", "GS a"}},
		{"code128", []byte{0x1D, 0x6B, 73, 4, '{', 'C', 73, 12}, []string{"GS k"}},
		{"barcode nul form", []byte{0x1D, 0x6B, 4, '1', '2', 0}, []string{"GS k"}},
		{"qr store", []byte{0x1D, 0x28, 0x6B, 4, 0, 0x31, 0x50, 0x30, 'x'}, []string{"GS ( k"}},
		{"raster", []byte{0x1D, 0x76, 0x30, 0, 1, 0, 2, 0, 0xAA, 0xBB}, []string{"GS v"}},
		{"unknown esc", []byte{0x1B, 0x01, 'x'}, []string{"UNKNOWN", "TEXT"}},
		{"ctrl", []byte{0x07, 0x0D}, []string{"CTRL", "CR"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmds, err := Decode(tc.in)
			require.NoError(t, err)
			var ops []string
			for _, c := range cmds {
				ops = append(ops, c.Op)
			}
			assert.Equal(t, tc.ops, ops)
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for _, in := range [][]byte{
		{0x1B}, {0x1B, 0x74}, {0x1D, 0x6B, 73, 4, '{', 'C'}, {0x1D, 0x28, 0x6B, 5, 0, 0x31},
		{0x10, 0x04}, {0x1D, 0x56, 66}, {0x1B, 0x70, 0, 1}, {0x1D, 0x76, 0x30, 0, 1, 0, 2, 0, 0xAA},
	} {
		cmds, err := Decode(append([]byte("ok"), in...))
		require.ErrorIs(t, err, ErrTruncated, "% X", in)
		require.Len(t, cmds, 1)
		d := Decoder{}
		_, n := d.Prefix(append([]byte("ok"), in...))
		assert.Equal(t, 2, n)
	}
}

func TestStyleTracking(t *testing.T) {
	in := []byte{0x1B, 0x40, 0x1B, 0x74, 19, 0x1B, 0x45, 1, 0x1D, 0x21, 0x01, 'T', 0x94, '\n', 0x1B, 0x45, 0, 0x1D, 0x21, 0x00, 'x', '\n', 0x1B, 0x40, 0x94}
	cmds, err := Decode(in)
	require.NoError(t, err)
	p := Render(cmds)
	lines := p.Lines()
	require.Len(t, lines, 3)
	assert.Equal(t, "Tö", lines[0].Text)
	assert.True(t, lines[0].Bold())
	assert.Equal(t, 2, lines[0].MaxHeight())
	assert.False(t, lines[1].Bold())
	assert.Equal(t, "ö", lines[2].Text, "after ESC @ the page is CP437, where 0x94 is also ö")
}

func TestCode128Value(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
		ok   bool
	}{
		{[]byte{'{', 'C', 73, 12}, "7312", true},
		{[]byte{'{', 'C', 73, 12, '{', 'B', '0'}, "73120", true},
		{[]byte{'{', 'B', 'a', '{', '{', 'b'}, "a{b", true},
		{[]byte{'{', 'C', 100}, "", false},
		{[]byte("7312"), "7312", false},
	}
	for _, tc := range tests {
		got, ok := Code128Value(tc.in)
		assert.Equal(t, tc.ok, ok, "% X", tc.in)
		if tc.ok {
			assert.Equal(t, tc.want, got)
		}
	}
}

func TestRenderItems(t *testing.T) {
	in := []byte{0x1B, 0x61, 1, 0x1D, 0x77, 2, 0x1D, 0x6B, 73, 3, '{', 'B', 'Z', 0x1B, 0x70, 1, 25, 250, 'a', 0x1D, 0x56, 1}
	cmds, err := Decode(in)
	require.NoError(t, err)
	p := Render(cmds)
	require.Len(t, p.Items, 4)
	assert.Equal(t, Item{Kind: ItemBarcode, Text: "Z", Align: 1, ValidPrefix: true, ModuleWidth: 2}, p.Items[0])
	assert.Equal(t, Item{Kind: ItemDrawer, Pin: 5, OnMs: 50, OffMs: 500}, p.Items[1])
	assert.Equal(t, ItemLine, p.Items[2].Kind)
	assert.Equal(t, Item{Kind: ItemCut, Partial: true}, p.Items[3])
}

// TestRenderRaster: a raster image that is not a QR code stays an image;
// bands printed back to back join.
func TestRenderRaster(t *testing.T) {
	band := []byte{0x1D, 0x76, 0x30, 0, 1, 0, 2, 0, 0xF0, 0x0F}
	cmds, err := Decode(append(append([]byte{0x1B, 0x61, 1}, band...), band...))
	require.NoError(t, err)
	assert.Equal(t, "GS v 0 m=0 raster 8x2 dots (2 bytes)", cmds[1].String())
	p := Render(cmds)
	require.Len(t, p.Items, 1)
	it := p.Items[0]
	assert.Equal(t, ItemImage, it.Kind)
	assert.Equal(t, Image{Width: 8, Height: 4, Bits: []byte{0xF0, 0x0F, 0xF0, 0x0F}}, it.Image)
	assert.True(t, it.Image.Dark(0, 0))
	assert.False(t, it.Image.Dark(0, 1))
	assert.Equal(t, "  [image 8x4]\n", p.Text(16)[:len("  [image 8x4]\n")])
	_, ok := ReadQR(it.Image)
	assert.False(t, ok)
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x1B, 0x40, 0x1B, 0x52, 0, 0x1B, 0x74, 19, 'h', 0x94, '\n', 0x1D, 0x56, 66, 3, 0x1D, 0x72, 1})
	f.Add([]byte{0x1D, 0x6B, 73, 4, '{', 'C', 73, 12, 0x1D, 0x28, 0x6B, 4, 0, 0x31, 0x50, 0x30, 'x'})
	f.Add([]byte{0x1D, 0x76, 0x30, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0x1D, 0x76, 0x30, 0, 1, 0, 8, 0, 0xFE, 0x82, 0xBA, 0xBA, 0xBA, 0x82, 0xFE, 0x00})
	f.Add([]byte{0x1B, 0x2A, 33, 0xFF, 0xFF})
	f.Add([]byte{0x10, 0x04, 1, 0x10, 0x14, 1, 0, 1, 0x1B, 0x44, 1, 2, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		cmds, n := d.Prefix(in)
		require.LessOrEqual(t, n, len(in))
		var joined []byte
		for _, c := range cmds {
			require.NotEmpty(t, c.Raw)
			require.Equal(t, len(joined), c.Offset)
			joined = append(joined, c.Raw...)
		}
		require.True(t, bytes.Equal(in[:n], joined), "commands cover the input exactly")
		_, err := Decode(in)
		if n < len(in) {
			require.True(t, errors.Is(err, ErrTruncated))
		} else {
			require.NoError(t, err)
		}
		p := Render(cmds)
		_ = p.Text(48)
		_ = Dump(cmds)
	})
}

func FuzzReadQR(f *testing.F) {
	f.Add(2, []byte{0xFE, 0x82, 0xBA, 0xBA, 0xBA, 0x82, 0xFE, 0x00, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, xBytes int, bits []byte) {
		if xBytes <= 0 || xBytes > 64 {
			return
		}
		h := len(bits) / xBytes
		q, ok := ReadQR(Image{Width: 8 * xBytes, Height: h, Bits: bits[:h*xBytes]})
		if !ok {
			require.Empty(t, q.Text)
		}
	})
}
