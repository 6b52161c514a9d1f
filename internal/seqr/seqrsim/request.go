package seqrsim

// Typed views of request parameters, read from the tree leniently (spec 1.5):
// absent elements are nil, unparsable numbers and unknown enum literals are
// nil, unknown elements are ignored, order does not matter.

type principalIn struct {
	ID, Type, UserID string
}

type contextIn struct {
	Channel              string
	ClientID             string
	ClientReference      string
	ClientRequestTimeout int64
	Principal            *principalIn
	Password             string
}

func readContext(n *node) *contextIn {
	if n == nil {
		return nil
	}
	c := &contextIn{
		Channel:         n.strv("channel"),
		ClientID:        n.strv("clientId"),
		ClientReference: n.strv("clientReference"),
		Password:        n.strv("password"),
	}
	if v := n.long("clientRequestTimeout"); v != nil {
		c.ClientRequestTimeout = *v
	}
	if p := n.child("initiatorPrincipalId"); p != nil {
		c.Principal = &principalIn{ID: p.strv("id"), Type: p.strv("type"), UserID: p.strv("userId")}
	}
	return c
}

func isPaymentMode(s string) bool {
	switch s {
	case "IMMEDIATE_DEBIT", "RESERVATION_DESIRED", "RESERVATION_REQUIRED", "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT":
		return true
	}
	return false
}

func isAckMode(s string) bool {
	switch s {
	case "NO_ACKNOWLEDGMENT", "OPTIONAL_ACKNOWLEDGMENT", "REQUIRE_ACKNOWLEDGMENT":
		return true
	}
	return false
}

func isReceiptType(s string) bool {
	switch s {
	case "PAYMENT_RECEIPT", "WARRANTY", "VOUCHER", "OTHER":
		return true
	}
	return false
}

type rowIn struct {
	Description *string
	Discount    *amountIn
	EAN         *string
	Quantity    *string
	SKU         *string
	TaxRate     *string
	Total       *amountIn
	Unit        *string
	UnitPrice   *amountIn
}

// invoiceIn is an invoice as sent, kept so it can be echoed in the receipt.
type invoiceIn struct {
	PaymentMode              *string
	AcknowledgmentMode       *string
	IssueDate                *string
	Title                    *string
	ClientInvoiceID          *string
	Rows                     []rowIn // nil: no invoiceRows element
	Total                    *amountIn
	CashierID                *string
	Footer                   *string
	BackURL                  *string
	NotificationURL          *string
	CommitReservationTimeout *int64
}

func readInvoice(n *node) *invoiceIn {
	if n == nil {
		return nil
	}
	inv := &invoiceIn{
		PaymentMode:              n.enum("paymentMode", isPaymentMode),
		AcknowledgmentMode:       n.enum("acknowledgmentMode", isAckMode),
		IssueDate:                n.dateTime("issueDate"),
		Title:                    n.str("title"),
		ClientInvoiceID:          n.str("clientInvoiceId"),
		Total:                    n.amount("totalAmount"),
		CashierID:                n.str("cashierId"),
		Footer:                   n.str("footer"),
		BackURL:                  n.str("backURL"),
		NotificationURL:          n.str("notificationUrl"),
		CommitReservationTimeout: n.long("commitReservationTimeout"),
	}
	if rows := n.child("invoiceRows"); rows != nil {
		inv.Rows = []rowIn{}
		for _, r := range rows.children("invoiceRow") {
			inv.Rows = append(inv.Rows, rowIn{
				Description: r.str("itemDescription"),
				Discount:    r.amount("itemDiscount"),
				EAN:         r.str("itemEAN"),
				Quantity:    r.decimal("itemQuantity"),
				SKU:         r.str("itemSKU"),
				TaxRate:     r.decimal("itemTaxRate"),
				Total:       r.amount("itemTotalAmount"),
				Unit:        r.str("itemUnit"),
				UnitPrice:   r.amount("itemUnitPrice"),
			})
		}
	}
	return inv
}

func (inv *invoiceIn) title() string {
	if inv == nil || inv.Title == nil {
		return ""
	}
	return *inv.Title
}

func (inv *invoiceIn) cashier() string {
	if inv == nil || inv.CashierID == nil {
		return ""
	}
	return *inv.CashierID
}

func (inv *invoiceIn) mode() string {
	if inv == nil || inv.PaymentMode == nil {
		return ""
	}
	return *inv.PaymentMode
}

// tokenIn is a customerToken; Status is a primitive int (0 when absent).
type tokenIn struct {
	Description *string
	ID          *string
	Status      int
	Value       *string
}

func readTokens(list []*node) []tokenIn {
	var out []tokenIn
	for _, t := range list {
		tk := tokenIn{Description: t.str("description"), ID: t.str("id"), Value: t.str("value")}
		if s := t.long("status"); s != nil {
			tk.Status = int(*s)
		}
		out = append(out, tk)
	}
	return out
}

// readParams reads a parameterMap: parameters/parameter/entry/{key,value}.
// Entries directly under parameters (the manual's wrong example) are
// dropped silently, as by the real server (spec 3.1).
func readParams(n *node) map[string]string {
	out := map[string]string{}
	for _, p := range n.children("parameter") {
		for _, e := range p.children("entry") {
			k := e.str("key")
			if k == nil {
				continue
			}
			out[*k] = e.strv("value")
		}
	}
	return out
}

type receiptDocIn struct {
	MimeType *string
	Data     *string
	Type     *string
}
