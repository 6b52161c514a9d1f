package resurssim_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (e *env) token(t *testing.T) string {
	t.Helper()
	r := e.do(http.MethodPost, resurssim.PathToken, "application/json",
		`{"grant_type":"client_credentials","client_id":"posd_test_client","client_secret":"posd_test_secret","scope":"mock-merchant-api"}`, "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	tok, _ := r.json(t)["access_token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

// E.25 and I.1, I.16: JSON and form bodies, any Authorization header
// ignored, never rate-limited, tokens expire.
func TestToken(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodPost, resurssim.PathToken, "application/json",
		`{"grant_type":"client_credentials","client_id":"posd_test_client","client_secret":"posd_test_secret","scope":"mock-merchant-api"}`,
		"", "", "Authorization", "Bearer {{stale}}")
	require.Equal(t, http.StatusOK, r.status, r.body)
	m := r.json(t)
	assert.EqualValues(t, 3599, m["expires_in"])
	assert.Equal(t, "Bearer", m["token_type"])
	assert.Equal(t, 3, len(strings.Split(m["access_token"].(string), ".")), "a JWT")

	r = e.do(http.MethodPost, resurssim.PathToken, "application/x-www-form-urlencoded",
		"grant_type=client_credentials&client_id=posd_test_client&client_secret=posd_test_secret&scope=mock-merchant-api", "", "")
	assert.Equal(t, http.StatusOK, r.status, r.body)

	r = e.do(http.MethodPost, resurssim.PathToken, "application/json",
		`{"grant_type":"client_credentials","client_id":"posd_test_client","client_secret":"wrong"}`, "", "")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_client", r.json(t)["error"])

	for range 50 {
		require.NotEmpty(t, e.token(t))
	}

	tok := e.token(t)
	body := `{"storeId":"` + resurssim.TestStoreID + `"}`
	r = e.do(http.MethodPost, resurssim.PathWidgetSession, "application/json", body, "", "", "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	e.clock.Add(3599 * time.Second)
	r = e.do(http.MethodPost, resurssim.PathWidgetSession, "application/json", body, "", "", "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusUnauthorized, r.status, "an expired token")
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	r = e.do(http.MethodPost, resurssim.PathWidgetSession, "application/json", body, "", "")
	assert.Equal(t, http.StatusUnauthorized, r.status)
}

// E.26: widget session.
func TestWidgetSession(t *testing.T) {
	e := newEnv(t)
	auth := []string{"Authorization", "Bearer " + e.token(t)}
	r := e.do(http.MethodPost, resurssim.PathWidgetSession, "application/json", `{"storeId":"101"}`, "", "", auth...)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	m := r.json(t)
	assert.EqualValues(t, 400, m["status"])
	assert.Equal(t, "/storeId", m["errors"].([]any)[0].(map[string]any)["pointer"])

	r = e.do(http.MethodPost, resurssim.PathWidgetSession, "application/json", `{"storeId":"`+resurssim.TestStoreID+`"}`, "", "", auth...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	data := r.json(t)["data"].(map[string]any)
	assert.True(t, strings.HasPrefix(data["token"].(string), "rpmw_"))
	exp, err := time.Parse(time.RFC3339, data["expiresAt"].(string))
	require.NoError(t, err)
	assert.True(t, exp.After(e.clock.Now()))
}

// E.27: payment-method types.
func TestWidgetTypes(t *testing.T) {
	e := newEnv(t)
	auth := []string{"Authorization", "Bearer " + e.token(t)}
	ms := resurssim.Methods()
	body := `{"storeId":"` + resurssim.TestStoreID + `","customerType":"B2C","paymentMethodId":["` + ms[0].UUID + `","` + ms[1].UUID + `"]}`
	r := e.do(http.MethodPost, resurssim.PathWidgetTypes, "application/json", body, "", "", auth...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.JSONEq(t, `{"types":{"`+ms[0].UUID+`":"RESURS_INVOICE","`+ms[1].UUID+`":"RESURS_PART_PAYMENT_SELECT_LATER"}}`, r.body)
	r = e.do(http.MethodPost, resurssim.PathWidgetTypes, "application/json", strings.Replace(body, "B2C", "NATURAL", 1), "", "", auth...)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
}
