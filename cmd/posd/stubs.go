package main

import (
	"context"
	"errors"
)

// Wired as the packages they need land.

func runServe(ctx context.Context, c *cli, args []string) error {
	return errors.New("serve: not wired yet")
}

func runDemo(ctx context.Context, c *cli, args []string) error {
	return errors.New("demo: not wired yet")
}

func runReceipt(ctx context.Context, c *cli, args []string) error {
	return errors.New("receipt render: not wired yet")
}
