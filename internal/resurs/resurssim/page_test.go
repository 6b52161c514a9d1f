package resurssim_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const nb = "\u00a0"

// Amounts as a Swedish cashier reads them: two decimals (rounded half away
// from zero, exactly), a comma, thousands grouped by no-break spaces.
func TestFormatKronor(t *testing.T) {
	for in, want := range map[string]string{
		"0":             "0,00" + nb + "kr",
		"20.00000":      "20,00" + nb + "kr",
		"625":           "625,00" + nb + "kr",
		"1234.5":        "1" + nb + "234,50" + nb + "kr",
		"300.0144":      "300,01" + nb + "kr",
		"0.005":         "0,01" + nb + "kr",
		"0.004999":      "0,00" + nb + "kr",
		"999.995":       "1" + nb + "000,00" + nb + "kr",
		"-150":          "-150,00" + nb + "kr",
		"-0.015":        "-0,02" + nb + "kr",
		"1234567.891":   "1" + nb + "234" + nb + "567,89" + nb + "kr",
		"100000":        "100" + nb + "000,00" + nb + "kr",
		"999999999.999": "1" + nb + "000" + nb + "000" + nb + "000,00" + nb + "kr",
	} {
		assert.Equal(t, want, resurssim.FormatKronor(in), in)
	}
	for in, want := range map[string]string{"1": "1", "0.5": "0,5", "2.250000": "2,25", "1500": "1" + nb + "500", "-1": "-1"} {
		assert.Equal(t, want, resurssim.FormatQuantity(in), in)
	}
}

// The checkout page shows the total and every line (incl. VAT) that way.
func TestCheckoutPageAmounts(t *testing.T) {
	e := newEnv(t)
	body := `{"orderLines":[
 {"artNo":"A","description":"Kaffebryggare","quantity":1,"unitAmountWithoutVat":800,"vatPct":25},
 {"artNo":"B","description":"Filter","quantity":2,"unitAmountWithoutVat":100,"vatPct":25},
 {"artNo":"C","quantity":3,"unitAmountWithoutVat":89.29,"vatPct":12},
 {"artNo":"R","description":"Rabatt","quantity":1,"unitAmountWithoutVat":-120,"vatPct":25,"type":"DISCOUNT"}]}`
	sid := e.create("AMOUNTS-1", body)
	r := e.do(http.MethodGet, "/web/dist/omni-checkout.html?"+sid, "", "", "", "")
	require.Equal(t, http.StatusOK, r.status)
	// 1000 + 250 + 300.0144 - 150 = 1400.0144
	assert.Contains(t, r.body, `<strong id="amount">1`+nb+`400,01`+nb+`kr</strong>`)
	rows := regexp.MustCompile(`<tr><td>([^<]*)</td><td class="n">([^<]*)</td><td class="n">([^<]*)</td></tr>`).FindAllStringSubmatch(r.body, -1)
	var got []string
	for _, m := range rows {
		got = append(got, strings.Join(m[1:], " | "))
	}
	assert.Equal(t, []string{
		"Kaffebryggare | 1 st | 1" + nb + "000,00" + nb + "kr",
		"Filter | 2 st | 250,00" + nb + "kr",
		"C | 3 st | 300,01" + nb + "kr",
		"Rabatt | 1 st | -150,00" + nb + "kr",
	}, got)
	assert.NotRegexp(t, `\d\.\d{5}`, r.body, "no five-decimal wire format on the page")

	// The BankID step and the "Betala sen" page show the same total.
	form := "governmentId=198305147715&method=invoice"
	r = e.do(http.MethodPost, "/web/checkout/"+sid+"/sign", "application/x-www-form-urlencoded", form, "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `<span id="amount">1`+nb+`400,01`+nb+`kr</span>`)
	_, err := e.sim.SendLater(sid, e.sim.Now().Add(3600e9))
	require.NoError(t, err)
	r = e.do(http.MethodGet, "/web/later/"+sid, "", "", "", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `<strong id="amount">1`+nb+`400,01`+nb+`kr</strong>`)
	assert.Contains(t, r.body, `<td class="n">250,00`+nb+`kr</td>`)
}
