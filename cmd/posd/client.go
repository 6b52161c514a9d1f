package main

import (
	"fmt"

	"github.com/posd/posd/internal/apiclient"
	"github.com/posd/posd/internal/config"
)

// apiClient is the CLI's client of a running posd's local API.
type apiClient = apiclient.Client

// newAPIClient reaches the posd described by cfg: its listen address and the
// token file (which must be readable only by its owner, like any secret).
func newAPIClient(cfg config.Config) (*apiClient, error) {
	tok, err := config.ReadSecret(cfg.API.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("read API token (run as the posd user, or pass --set api.token_file=PATH): %w", err)
	}
	return newAPIClientToken(cfg.API.Listen, tok.Reveal()), nil
}

// newAPIClientToken reaches the posd listening on listen ("host:port" or
// "unix:/path") with token. No overall timeout: `posd pay` follows a
// payment's event stream for as long as the customer takes.
func newAPIClientToken(listen, token string) *apiClient {
	return apiclient.New(apiclient.Config{Listen: listen, Token: token})
}
