package payson

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/posd/posd/internal/payment"
)

func TestLabel(t *testing.T) {
	var a payment.Labeler = &Adapter{}
	assert.Equal(t, "Payson Kort", a.Label("payment", "Kort"))
	assert.Equal(t, "Payson Faktura", a.Label("payment", "Faktura"))
	assert.Equal(t, "Payson", a.Label("payment", "Payson"), "an unknown method is named once")
	assert.Equal(t, "Payson", a.Label("payment", ""))
	assert.Equal(t, "Payson refund", a.Label("refund", ""))
}
