// Package migrations holds Watch Tower's schema as ordered SQL files,
// embedded into the binary so that `watchtower migrate` needs nothing beside it.
//
// Files are named NNNN_description.sql; they are applied in numeric order, each
// in its own transaction, and never edited once released: a change to the
// schema is a new file.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
