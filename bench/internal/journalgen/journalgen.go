// Package journalgen writes a receipt-file series of paid posts for the
// benches that need a long history (historybench: the receipt file alone;
// statebench: a whole state dir). It encodes the format independently of
// internal/receipt (journal_line.go), so that a bench fails, rather than
// agrees, when the two drift apart.
package journalgen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
)

var providers = [...]string{"seqr", "resurs", "payson"}

// RefOf is the (provider, reference) of post or payment seq: the three
// providers in turn, Payson with its small integer ids.
func RefOf(seq int64) (provider, ref string) {
	prov := providers[seq%3]
	if prov == "payson" {
		return prov, strconv.FormatInt(seq, 10)
	}
	return prov, fmt.Sprintf("%s-%025d", strings.ToUpper(prov), seq)
}

// PaymentID is payment seq's id.
func PaymentID(seq int64) string { return fmt.Sprintf("01PAY%021d", seq) }

// PaidAt is payment seq's time: perDay a day from first, from 08:00, one a minute.
func PaidAt(seq int64, perDay int, first time.Time) time.Time {
	i := (seq - 1) % int64(perDay)
	day := first.AddDate(0, 0, int((seq-1)/int64(perDay)))
	return day.Add(8*time.Hour + time.Duration(i)*time.Minute)
}

// First is the first day of a series of posts, perDay a day, ending on last.
func First(posts, perDay int, last time.Time) time.Time {
	days := (posts + perDay - 1) / perDay
	return last.AddDate(0, 0, -(days - 1))
}

type header struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	File    int       `json:"file"`
	Period  string    `json:"period"`
	Seq     int64     `json:"seq,omitempty"`
	Prev    string    `json:"prev,omitempty"`
}

type record struct {
	Seq       int64        `json:"seq"`
	Time      time.Time    `json:"time"`
	Provider  string       `json:"provider"`
	PaymentID string       `json:"paymentId"`
	Kind      string       `json:"kind"`
	Text      string       `json:"text"`
	Amount    money.Amount `json:"amount"`
	Currency  string       `json:"currency"`
	Reference string       `json:"reference"`
	Prev      string       `json:"prev"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func seal(body []byte) []byte {
	return append(fmt.Appendf(body, " %08x", crc32.Checksum(body, castagnoli)), '\n')
}

// WriteSeries writes posts posts, perDay a day from first, as one file a
// day (path, then path.NNNNNN-YYYY-MM-DD), chained as posd chains them; it
// returns how many files and bytes it wrote.
func WriteSeries(path string, posts, perDay int, first time.Time) (files int, size int64, err error) {
	days := (posts + perDay - 1) / perDay
	var prev [32]byte
	var seq int64
	for d := 0; d < days; d++ {
		day := first.AddDate(0, 0, d)
		period := day.Format("2006-01-02")
		name := path
		if d > 0 {
			name = fmt.Sprintf("%s.%06d-%s", path, d+1, period)
		}
		h := header{Format: "posd-receipt-journal", Version: 2, Created: day, File: d + 1, Period: period, Seq: seq}
		if d > 0 {
			h.Prev = hex.EncodeToString(prev[:])
		}
		body, err := json.Marshal(h)
		if err != nil {
			return files, size, err
		}
		buf := seal(body)
		prev = sha256.Sum256(buf[:len(buf)-1])
		for i := 0; i < perDay && seq < int64(posts); i++ {
			seq++
			prov, ref := RefOf(seq)
			body, err := json.Marshal(record{
				Seq: seq, Time: PaidAt(seq, perDay, first), Provider: prov, PaymentID: PaymentID(seq), Kind: "payment",
				Text: strings.ToUpper(prov[:1]) + prov[1:] + " payment", Amount: money.Amount(100 + seq%50000), Currency: "SEK",
				Reference: ref, Prev: hex.EncodeToString(prev[:]),
			})
			if err != nil {
				return files, size, err
			}
			line := seal(body)
			prev = sha256.Sum256(line[:len(line)-1])
			buf = append(buf, line...)
		}
		if err := os.WriteFile(name, buf, 0o600); err != nil {
			return files, size, err
		}
		files++
		size += int64(len(buf))
	}
	return files, size, nil
}
