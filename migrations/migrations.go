// Package migrations holds posd's SQLite schema as numbered SQL files
// (NNNN_name.sql), embedded in the binary so that a register can never run
// against a schema it was not built for. internal/store applies them in order.
package migrations

import "embed"

// FS holds every NNNN_name.sql file of this directory.
//
//go:embed *.sql
var FS embed.FS
