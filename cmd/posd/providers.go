package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payson"
	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
	"github.com/posd/posd/internal/store/seqrreg"
)

// providerClients lets tests and the demo give a provider's HTTP client.
type providerClients struct {
	seqr, resurs, payson *http.Client
}

// newProviders builds every configured payment provider: the one place
// that knows them all (litestream's NewReplicaFromConfig shape). A provider
// is configured when its URL is set; the order is the order Status lists
// them in, SEQR first.
func newProviders(cfg config.Config, db *store.DB, log *zap.Logger, hc providerClients) ([]payment.Provider, error) {
	var out []payment.Provider
	if c := cfg.Providers.Seqr; c.URL != "" {
		client, err := seqr.New(seqr.Config{URL: c.URL, ClientID: c.ClientID, ClientReference: c.ClientReference,
			Channel: c.Channel, HTTPClient: hc.seqr, Logger: log.Named("seqr")})
		if err != nil {
			return nil, &configError{err: fmt.Errorf("providers.seqr: %w", err)}
		}
		a, err := seqr.NewAdapter(client, seqrreg.Store{DB: db}, seqr.AdapterConfig{Policy: payment.Policy{
			CheckInterval: c.PollInterval, Window: c.Window, DecisionLimit: c.DecisionLimit,
		}}, time.Now)
		if err != nil {
			return nil, fmt.Errorf("providers.seqr: %w", err)
		}
		out = append(out, a)
	}
	if c := cfg.Providers.Resurs; c.POSURL != "" {
		a, err := resurs.NewAdapter(resurs.AdapterConfig{POSURL: c.POSURL, AfterShopURL: c.AfterShopURL, MAPIURL: c.MAPIURL,
			Username: c.Username, Password: c.Password.Reveal(), ClientID: c.ClientID, ClientSecret: c.ClientSecret.Reveal(),
			MAPIScope: c.MAPIScope, StoreID: c.StoreID, SuccessURL: c.SuccessURL, BackURL: c.BackURL,
			CallbackURL: c.CallbackURL, ShopURL: c.ShopURL, RefPrefix: c.RefPrefix, CheckInterval: c.CheckInterval,
			Window: c.Window, DecisionLimit: c.DecisionLimit, LaterCheckInterval: c.LaterInterval, LaterValidity: c.LaterValidity,
			Transport: resurs.Transport{HTTP: hc.resurs, Logger: log.Named("resurs")}})
		if err != nil {
			return nil, &configError{err: fmt.Errorf("providers.resurs: %w", err)}
		}
		out = append(out, a)
	}
	if c := cfg.Providers.Payson; c.URL != "" {
		a, err := payson.NewAdapter(payson.AdapterConfig{URL: c.URL, AgentID: c.AgentID, APIKey: c.APIKey.Reveal(),
			CheckoutURI: c.CheckoutURI, ConfirmationURI: c.ConfirmationURI, NotificationURI: c.NotificationURI,
			TermsURI: c.TermsURI, CheckInterval: c.CheckInterval, Window: c.Window, DecisionLimit: c.DecisionLimit,
			HTTPClient: hc.payson, Logger: log.Named("payson")})
		if err != nil {
			return nil, &configError{err: fmt.Errorf("providers.payson: %w", err)}
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, &configError{err: errors.New("no payment provider configured: set providers.seqr.url, providers.resurs.pos_url or providers.payson.url")}
	}
	return out, nil
}
