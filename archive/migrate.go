package archive

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// migrationFiles are the schema's versions, applied in order by tern
// (NNN_name.sql; each runs in its own transaction). A file is never edited
// once released: a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

const (
	// Schema holds the archive's tables.
	Schema = "prism_archive"
	// versionTable is tern's record of the schema version.
	versionTable = Schema + ".schema_version"
	// schemaLockKey serialises CREATE SCHEMA IF NOT EXISTS between nodes
	// (two at once race on the catalog's unique index); tern takes its
	// own advisory lock for the migrations.
	schemaLockKey = int64(0x7072736d61726368) // "prsmarch"
)

// Migrations may wait for another node's (tern's advisory lock) and may
// build an index on a large table: the store's statement and lock
// timeouts would cut them short.
const (
	migrationStatementTimeout = "600000" // ms
	migrationLockTimeout      = "60000"  // ms
)

// migrate brings the schema to the newest version and returns it. It runs
// on a connection of its own rather than one of the pool: tern runs RESET
// ALL after each migration, so the migration's timeouts must be the
// connection's startup parameters.
func (s *Store) migrate(ctx context.Context, base *pgx.ConnConfig) (int32, error) {
	cc := base.Copy()
	cc.RuntimeParams["statement_timeout"] = migrationStatementTimeout
	cc.RuntimeParams["lock_timeout"] = migrationLockTimeout
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return 0, s.wrap("connect", err)
	}
	defer conn.Close(context.Background())
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+Schema)
		return err
	})
	if err != nil {
		return 0, s.wrap("create schema "+Schema, err)
	}
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return 0, s.wrap("migrations: version table", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, fmt.Errorf("archive: migrations: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return 0, fmt.Errorf("archive: migrations: load: %w", err)
	}
	m.OnStart = func(seq int32, name, direction, _ string) {
		s.log.Info("archive schema migration", "version", seq, "name", name, "direction", direction)
	}
	if err := m.Migrate(ctx); err != nil {
		return 0, s.wrap("migrations", err)
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, s.wrap("migrations: version", err)
	}
	return v, nil
}
