package main

import (
	"net/url"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/receipt"
)

// frameOrigins are the origins the cashier page may frame: Resurs's
// checkout iframe comes from the Checkout POS host (pos_url), Payson's
// snippet from providers.payson.snippet_origin or, without it, the API's
// host. Only configured providers add one.
func frameOrigins(cfg config.Config) []string {
	var out []string
	add := func(raw string) {
		if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	if rs := cfg.Providers.Resurs; rs.POSURL != "" {
		add(rs.POSURL)
	}
	if ps := cfg.Providers.Payson; ps.URL != "" {
		if ps.SnippetOrigin != "" {
			add(ps.SnippetOrigin)
		} else {
			add(ps.URL)
		}
	}
	return out
}

// referenceCode is receipt.reference_code as the register takes it; the
// configuration was validated, so an unknown value cannot reach here, and
// would print the default Code 128.
func referenceCode(cfg config.Config) receipt.Symbology {
	sym, err := receipt.ParseSymbology(cfg.Receipt.ReferenceCode)
	if err != nil {
		return receipt.SymbologyCode128
	}
	return sym
}
