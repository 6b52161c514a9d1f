package main

import (
	"context"
	"errors"
)

// Wired as the packages they need land.

func runReceipt(ctx context.Context, c *cli, args []string) error {
	return errors.New("receipt render: not wired yet")
}
