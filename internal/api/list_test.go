package api

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListPaymentsPagesWithACursor runs GET /v1/payments through the real
// register: pages of limit items, "next" until the last page, items without
// rows, and filters.
func TestListPaymentsPagesWithACursor(t *testing.T) {
	s := startRealStack(t, true)
	var ids []string
	for range 5 {
		a := s.pay(t, paymentBody("3.00"))
		require.Equal(t, http.StatusAccepted, a.status, a.raw)
		ids = append(ids, a.body["id"].(string))
		s.settle(t, a)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "the listing ends")
		path := "/v1/payments?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		a := s.send(t, "GET", path, nil, nil)
		require.Equal(t, http.StatusOK, a.status, a.raw)
		items := a.body["payments"].([]any)
		assert.LessOrEqual(t, len(items), 2)
		for _, it := range items {
			m := it.(map[string]any)
			got = append(got, m["id"].(string))
			assert.NotContains(t, m, "rows", "rows are left out of list items")
		}
		next, ok := a.body["next"].(string)
		if !ok {
			break
		}
		cursor = next
	}
	assert.Equal(t, ids, got)

	a := s.send(t, "GET", "/v1/payments?order=desc&limit=1", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Len(t, a.body["payments"], 1)
	assert.Equal(t, ids[4], a.body["payments"].([]any)[0].(map[string]any)["id"])

	a = s.send(t, "GET", "/v1/payments?q="+ids[2], nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Len(t, a.body["payments"], 1)
	a = s.send(t, "GET", "/v1/payments?state=paid", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Empty(t, a.body["payments"])
	a = s.send(t, "GET", "/v1/payments?saleId=S-1&provider=seqr&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=500", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Len(t, a.body["payments"], 5)
}

func TestListPaymentsRefusesBadParameters(t *testing.T) {
	s := startRealStack(t, true)
	for _, tc := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=501", "limit"}, {"limit=x", "limit"},
		{"state=done", "state"}, {"from=yesterday", "from"}, {"order=up", "order"},
		{"limit=1&limit=2", "limit"}, {"page=2", "page"},
	} {
		a := s.send(t, "GET", "/v1/payments?"+tc.query, nil, nil)
		assert.Equal(t, http.StatusBadRequest, a.status, "%s: %s", tc.query, a.raw)
		assert.Contains(t, a.raw, tc.field, tc.query)
	}
	a := s.send(t, "GET", "/v1/payments?cursor=not-a-cursor", nil, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, a.status, a.raw)
	assert.Contains(t, a.raw, "cursor")
}
