package api

import "github.com/posd/posd/internal/register"

// The real register must satisfy what the API needs of it.
var _ Register = (*register.Register)(nil)
