// Package postgres provisions a namespace's table on a declared Postgres
// target (github.com/jackc/pgx/v5): it creates the table with the plan's
// columns, observes it, drops it on delete, and releases it on retain.
//
// Ownership lives in the target database itself: a registry table,
// prism.resources, holds one row per table Prism created (schema, table,
// cluster id, namespace, create revision, released_at), written in the
// same transaction as the CREATE TABLE; COMMENT ON TABLE says the same for
// humans. A table is this namespace's only when its row names this
// cluster, this namespace and this create revision and is not released;
// any other table is never altered or dropped. Checking the revision
// inside the transaction that drops fences a deposed leader: it cannot
// drop the table of a namespace re-created under the same name.
//
// Every change runs in one READ COMMITTED transaction that first takes a
// transaction-scoped advisory lock on the table's name (and on the
// schema's name when it creates the schema), so concurrent calls for one
// table, from one leader or two, serialize and see each other's commits.
// Columns are fixed at creation; Ensure never alters an existing table.
// Schemas are created when missing and never dropped.
//
// Credentials come only from the target's URL (which holds no password)
// and libpq's PGPASSWORD / PGPASSFILE, which pgx reads; no error carries
// a password.
package postgres
