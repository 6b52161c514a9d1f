package seqr

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden request files in testdata/")

func amountPtr(s string) *money.Amount {
	a := money.MustParse(s)
	return &a
}

// threeRowInvoice is a till invoice with three rows, one of them discounted,
// and text that needs escaping.
func threeRowInvoice() Invoice {
	return Invoice{
		PaymentMode:        "IMMEDIATE_DEBIT",
		AcknowledgmentMode: "NO_ACKNOWLEDGMENT",
		IssueDate:          time.Date(2015, 12, 25, 12, 34, 56, 0, time.FixedZone("CET", 3600)),
		Title:              "Fiskaffär & Deli <Södermalm>",
		ClientInvoiceID:    "R-1001",
		Rows: []InvoiceRow{
			{Description: "Ice cream", Quantity: "2", TaxRate: "12", Total: money.MustParse("20.00"), UnitPrice: amountPtr("10.00")},
			{Description: "Räkor 0.5 kg", Quantity: "0.5", Unit: "kg", EAN: "7310865004703", SKU: "RK-1", TaxRate: "12",
				Total: money.MustParse("94.50"), UnitPrice: amountPtr("189.00")},
			{Description: "Kaffe \"stor\"", Discount: amountPtr("5.00"), Quantity: "1", TaxRate: "12", Total: money.MustParse("30.00"), UnitPrice: amountPtr("35.00")},
		},
		Total:     money.MustParse("144.50"),
		Currency:  "SEK",
		CashierID: "Bob",
		Footer:    "Tack för besöket!",
	}
}

// goldenCases calls every operation once; the request each one sends is
// compared with testdata/<name>.xml.
func goldenCases() []struct {
	name string
	call func(context.Context, *Client) error
} {
	return []struct {
		name string
		call func(context.Context, *Client) error
	}{
		{"registerTerminal", func(ctx context.Context, c *Client) error {
			_, err := c.RegisterTerminal(ctx, testReseller, "Shop 1/POS 2", "k3Jd8sLq0PzX2mA", "My Shop, till 2")
			return err
		}},
		{"unregisterTerminal", func(ctx context.Context, c *Client) error {
			return c.UnregisterTerminal(ctx, testTerminal)
		}},
		{"assignSeqrId", func(ctx context.Context, c *Client) error {
			return c.AssignSeqrID(ctx, testTerminal, "ACME0001")
		}},
		{"sendInvoice", func(ctx context.Context, c *Client) error {
			_, err := c.SendInvoice(ctx, testTerminal, threeRowInvoice(), nil)
			return err
		}},
		{"sendInvoice_tokens", func(ctx context.Context, c *Client) error {
			inv := Invoice{
				PaymentMode: "RESERVATION_DESIRED", AcknowledgmentMode: "REQUIRE_ACKNOWLEDGMENT", Title: "Webshop",
				Rows:  []InvoiceRow{{Description: "Box", Total: money.MustParse("199.00")}},
				Total: money.MustParse("199.00"), Currency: "SEK", CashierID: "Web",
				BackURL: "https://shop.example/back?a=1&b=2", NotificationURL: "http://shop.example/notify",
				CommitReservationTimeout: 300,
			}
			tokens := []CustomerToken{
				{Description: "Loyalty card", ID: "X_CARD", Status: 1, Value: "2610411111110"},
				{ID: "COUPON", Status: 0, Value: "SUMMER"},
			}
			_, err := c.SendInvoice(ctx, testTerminal, inv, tokens)
			return err
		}},
		{"updateInvoice", func(ctx context.Context, c *Client) error {
			inv := threeRowInvoice()
			inv.Rows = inv.Rows[:1]
			inv.Total = money.MustParse("20.00")
			return c.UpdateInvoice(ctx, testTerminal, "1397222701693", inv,
				[]CustomerToken{{Description: "Loyalty card", ID: "X_CARD", Status: 1, Value: "2610411111110"}})
		}},
		{"getPaymentStatus", func(ctx context.Context, c *Client) error {
			_, err := c.GetPaymentStatus(ctx, testTerminal, "1397222701693", 0)
			return err
		}},
		{"cancelInvoice", func(ctx context.Context, c *Client) error {
			return c.CancelInvoice(ctx, testTerminal, "1397222701693")
		}},
		{"commitReservation", func(ctx context.Context, c *Client) error {
			return c.CommitReservation(ctx, testTerminal, "1397222701693", amountPtr("15.50"), "SEK")
		}},
		{"commitReservation_noAmount", func(ctx context.Context, c *Client) error {
			return c.CommitReservation(ctx, testTerminal, "1397222701693", nil, "")
		}},
		{"submitPaymentReceipt", func(ctx context.Context, c *Client) error {
			return c.SubmitPaymentReceipt(ctx, testTerminal, "2015102910184861801032678",
				ReceiptDocument{MimeType: "text/html", Data: []byte("<b>Tack!</b>"), Type: "PAYMENT_RECEIPT"})
		}},
		{"refundPayment", func(ctx context.Context, c *Client) error {
			_, err := c.RefundPayment(ctx, testTerminal, "2015102910184861801032678",
				Invoice{Title: "Refund", CashierID: "Bob", Total: money.MustParse("5.00"), Currency: "SEK"})
			return err
		}},
		{"markTransactionPeriod", func(ctx context.Context, c *Client) error {
			_, err := c.MarkTransactionPeriod(ctx, testReseller, []Param{{"TERMINALID", "87e791f9e24148a6892c52aa85bb0331"}})
			return err
		}},
		{"markTransactionPeriod_shop", func(ctx context.Context, c *Client) error {
			_, err := c.MarkTransactionPeriod(ctx, testReseller, nil)
			return err
		}},
		{"executeReport", func(ctx context.Context, c *Client) error {
			_, err := c.ExecuteReport(ctx, testReseller, "Reconciliation/STD_RECON_006.xml", "en", []Param{
				{"transactionPeriodId", "2015120408534212001005262"},
				{"TERMINALID", "87e791f9e24148a6892c52aa85bb0331"},
			})
			return err
		}},
		{"benchmarkingNop", func(ctx context.Context, c *Client) error {
			return c.BenchmarkingNop(ctx)
		}},
	}
}

func TestGoldenRequests(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestClient(t, testConfig(srv.URL))
	seen := map[string]bool{}
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.call(context.Background(), c))
			got := srv.last(t)
			seen[got.op] = true
			assert.Equal(t, "text/xml; charset=UTF-8", got.header.Get("Content-Type"))
			assert.Equal(t, []string{`""`}, got.header.Values("SOAPAction"))

			path := filepath.Join("testdata", tc.name+".xml")
			if *update {
				require.NoError(t, os.WriteFile(path, got.body, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestGoldenRequests -update to create it")
			assert.Equal(t, string(want), string(got.body))
		})
	}
	for _, op := range []string{opRegisterTerminal, opUnregisterTerminal, opAssignSeqrID, opSendInvoice,
		opUpdateInvoice, opGetPaymentStatus, opCancelInvoice, opCommitReservation, opSubmitPaymentReceipt,
		opRefundPayment, opMarkTransactionPeriod, opExecuteReport, opBenchmarkingNop} {
		assert.True(t, seen[op], "no golden request for %s", op)
	}
}

// TestTV1RegisterTerminal compares the request with spec 6 TV1 byte for byte
// (the spec's line breaks and indentation removed).
func TestTV1RegisterTerminal(t *testing.T) {
	const tv1 = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="http://external.interfaces.ers.seamless.com/">` +
		`<soapenv:Body><ext:registerTerminal>` +
		`<context><channel>WS</channel><clientId>ACME POS 1.0</clientId><clientReference>reg-0001</clientReference>` +
		`<clientRequestTimeout>0</clientRequestTimeout>` +
		`<initiatorPrincipalId><id>public_test_shop</id><type>RESELLERUSER</type><userId>9900</userId></initiatorPrincipalId>` +
		`<password>1234</password></context>` +
		`<externalTerminalId>Shop 1/POS 2</externalTerminalId><password>k3Jd8sLq0PzX2mA</password><name>My Shop, till 2</name>` +
		`</ext:registerTerminal></soapenv:Body></soapenv:Envelope>`
	c := newTestClient(t, testConfig("http://127.0.0.1:1/"))
	got, err := c.buildRegisterTerminal(testReseller, "Shop 1/POS 2", "k3Jd8sLq0PzX2mA", "My Shop, till 2")
	require.NoError(t, err)
	assert.Equal(t, tv1, string(got))
}

// TestTV3SendInvoice compares with spec 6 TV3. The spec's issueDate carries no
// offset; ours does (the till's clock may run in UTC), which is the one difference.
func TestTV3SendInvoice(t *testing.T) {
	const tv3 = `<ext:sendInvoice>` +
		`<context><channel>WS</channel><clientId>ACME POS 1.0</clientId><clientReference>reg-0001</clientReference><clientRequestTimeout>0</clientRequestTimeout>` +
		`<initiatorPrincipalId><id>87e791f9e24148a6892c52aa85bb0331</id><type>TERMINALID</type></initiatorPrincipalId><password>k3Jd8sLq0PzX2mA</password></context>` +
		`<invoice><paymentMode>IMMEDIATE_DEBIT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode>` +
		`<issueDate>2015-12-25T12:34:56+01:00</issueDate><title>My Shop</title><clientInvoiceId>R-1001</clientInvoiceId>` +
		`<invoiceRows><invoiceRow><itemDescription>Ice cream</itemDescription><itemQuantity>2</itemQuantity>` +
		`<itemTaxRate>12</itemTaxRate><itemTotalAmount><currency>SEK</currency><value>20.00</value></itemTotalAmount>` +
		`<itemUnitPrice><currency>SEK</currency><value>10.00</value></itemUnitPrice></invoiceRow></invoiceRows>` +
		`<totalAmount><currency>SEK</currency><value>20.00</value></totalAmount><cashierId>Bob</cashierId></invoice>` +
		`</ext:sendInvoice>`
	c := newTestClient(t, testConfig("http://127.0.0.1:1/"))
	inv := Invoice{
		PaymentMode: "IMMEDIATE_DEBIT", AcknowledgmentMode: "NO_ACKNOWLEDGMENT",
		IssueDate: time.Date(2015, 12, 25, 12, 34, 56, 0, time.FixedZone("CET", 3600)),
		Title:     "My Shop", ClientInvoiceID: "R-1001",
		Rows:  []InvoiceRow{{Description: "Ice cream", Quantity: "2", TaxRate: "12", Total: money.MustParse("20"), UnitPrice: amountPtr("10")}},
		Total: money.MustParse("20"), Currency: "SEK", CashierID: "Bob",
	}
	got, err := c.buildSendInvoice(testTerminal, &inv, nil)
	require.NoError(t, err)
	assert.Contains(t, string(got), tv3)

	inv.IssueDate = time.Date(2015, 12, 25, 11, 34, 56, 0, time.UTC)
	got, err = c.buildSendInvoice(testTerminal, &inv, nil)
	require.NoError(t, err)
	assert.Contains(t, string(got), `<issueDate>2015-12-25T11:34:56Z</issueDate>`)
}

// TestRequestsAreWellFormed parses every golden file: only the envelope and the
// wrapper are namespace-qualified, everything below the wrapper has no
// namespace (spec 1.3), and there is no default namespace anywhere.
func TestRequestsAreWellFormed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	const soapNS = "http://schemas.xmlsoap.org/soap/envelope/"
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "response_") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			assert.NotContains(t, string(b), `xmlns="`)
			d := xml.NewDecoder(bytes.NewReader(b))
			depth := 0
			for {
				tok, err := d.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				switch el := tok.(type) {
				case xml.StartElement:
					depth++
					switch depth {
					case 1, 2:
						assert.Equal(t, soapNS, el.Name.Space, el.Name.Local)
					case 3:
						assert.Equal(t, Namespace, el.Name.Space, el.Name.Local)
					default:
						assert.Empty(t, el.Name.Space, el.Name.Local)
					}
				case xml.EndElement:
					depth--
				}
			}
		})
	}
}

func TestRequestEscaping(t *testing.T) {
	c := newTestClient(t, testConfig("http://127.0.0.1:1/"))
	inv := Invoice{Title: "A&B <x> ]]> \"q\" 'a'\r\n\ttab ÅÄÖ €", Total: 100, Currency: "SEK"}
	body, err := c.buildSendInvoice(testTerminal, &inv, nil)
	require.NoError(t, err)
	assert.Contains(t, string(body), "<title>A&amp;B &lt;x&gt; ]]&gt; \"q\" 'a'&#xD;\n\ttab ÅÄÖ €</title>")

	// The XML parser gives back exactly the string we were given.
	var v struct {
		Title string `xml:"Body>sendInvoice>invoice>title"`
	}
	require.NoError(t, xml.Unmarshal(body, &v))
	assert.Equal(t, inv.Title, v.Title)
}

func TestRequestRefusesBadInput(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestClient(t, testConfig(srv.URL))
	ctx := context.Background()
	inv := func(mod func(*Invoice)) Invoice {
		i := Invoice{Title: "ok", Total: 100, Currency: "SEK", Rows: []InvoiceRow{{Description: "a", Total: 100}}}
		mod(&i)
		return i
	}
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"control char", func() error {
			_, err := c.SendInvoice(ctx, testTerminal, inv(func(i *Invoice) { i.Title = "bell\a" }), nil)
			return err
		}, "title"},
		{"bad utf-8", func() error {
			_, err := c.SendInvoice(ctx, testTerminal, inv(func(i *Invoice) { i.CashierID = "\xff" }), nil)
			return err
		}, "cashierId"},
		{"no currency", func() error {
			_, err := c.SendInvoice(ctx, testTerminal, inv(func(i *Invoice) { i.Currency = "" }), nil)
			return err
		}, "invoice.currency"},
		{"bad quantity", func() error {
			_, err := c.SendInvoice(ctx, testTerminal, inv(func(i *Invoice) { i.Rows[0].Quantity = "1,5" }), nil)
			return err
		}, "invoiceRow 1: itemQuantity"},
		{"bad tax rate", func() error {
			_, err := c.SendInvoice(ctx, testTerminal, inv(func(i *Invoice) { i.Rows[0].TaxRate = "1e2" }), nil)
			return err
		}, "itemTaxRate"},
		{"no principal id", func() error {
			_, err := c.GetPaymentStatus(ctx, Principal{Type: PrincipalTerminal, Password: "x"}, "1", 0)
			return err
		}, "initiatorPrincipalId.id"},
		{"no principal type", func() error {
			_, err := c.GetPaymentStatus(ctx, Principal{ID: "t", Password: "x"}, "1", 0)
			return err
		}, "initiatorPrincipalId.type"},
		{"no password", func() error {
			_, err := c.GetPaymentStatus(ctx, Principal{ID: "t", Type: PrincipalTerminal}, "1", 0)
			return err
		}, "context.password"},
		{"no reference", func() error { return c.CancelInvoice(ctx, testTerminal, "") }, "invoiceReference"},
		{"negative version", func() error {
			_, err := c.GetPaymentStatus(ctx, testTerminal, "1", -1)
			return err
		}, "invoiceVersion"},
		{"no seqr id", func() error { return c.AssignSeqrID(ctx, testTerminal, "") }, "seqrId"},
		{"no ers reference", func() error {
			_, err := c.RefundPayment(ctx, testTerminal, "", inv(func(*Invoice) {}))
			return err
		}, "ersReference"},
		{"empty param key", func() error {
			_, err := c.MarkTransactionPeriod(ctx, testReseller, []Param{{"", "x"}})
			return err
		}, "parameters[0].key"},
		{"commit amount without currency", func() error {
			return c.CommitReservation(ctx, testTerminal, "1", amountPtr("1.00"), "")
		}, "amount.currency"},
		{"new terminal password empty", func() error {
			_, err := c.RegisterTerminal(ctx, testReseller, "x", "", "y")
			return err
		}, "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidRequest)
			assert.ErrorIs(t, err, ErrNotSent)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	assert.Zero(t, srv.count(), "an invalid request reached the server")
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no URL", Config{}, "URL"},
		{"bad scheme", Config{URL: "ftp://x/"}, "URL"},
		{"no host", Config{URL: "https:///soap"}, "URL"},
		{"clientReference 33", Config{URL: "https://x/", ClientReference: strings.Repeat("a", 33)}, "clientReference"},
		{"channel 41", Config{URL: "https://x/", Channel: strings.Repeat("a", 41)}, "channel"},
		{"clientComment 81", Config{URL: "https://x/", ClientComment: strings.Repeat("a", 81)}, "clientComment"},
		{"clientId control char", Config{URL: "https://x/", ClientID: "a\x00"}, "clientId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	// 32 characters, not bytes: "å" is two bytes.
	_, err := New(Config{URL: "https://x/", ClientReference: strings.Repeat("å", 32)})
	require.NoError(t, err)
}

func TestChannelDefaultAndComment(t *testing.T) {
	c := newTestClient(t, Config{URL: "https://x/", ClientID: "id", ClientComment: "till 2", Channel: ""})
	body, err := c.buildCancelInvoice(testTerminal, "1")
	require.NoError(t, err)
	assert.Contains(t, string(body), `<context><channel>WS</channel><clientComment>till 2</clientComment><clientId>id</clientId><clientRequestTimeout>0</clientRequestTimeout>`)
}
