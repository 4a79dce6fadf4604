package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/provision/plan"
)

// Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)),
// so Prism's locks do not meet an application's. The second key is
// hashtext of the quoted name; a collision only serializes two names.
const (
	lockRegistry int32 = 0x50524901 // creating prism.resources
	lockSchema   int32 = 0x50524902 // creating a schema
	lockTable    int32 = 0x50524903 // any change to a table or its row
)

// registryTable is the quoted name of Prism's registry.
var registryTable = pgx.Identifier{plan.RegistrySchema, "resources"}.Sanitize()

// registryDDL creates the registry; it runs under the lockRegistry lock,
// because CREATE ... IF NOT EXISTS is not safe against a concurrent
// creator.
var registryDDL = `
CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{plan.RegistrySchema}.Sanitize() + `;
CREATE TABLE IF NOT EXISTS ` + registryTable + ` (
	schema_name     text        NOT NULL,
	table_name      text        NOT NULL,
	cluster_id      text        NOT NULL,
	namespace       text        NOT NULL,
	create_revision bigint      NOT NULL,
	created_schema  boolean     NOT NULL DEFAULT false,
	created_at      timestamptz NOT NULL DEFAULT now(),
	released_at     timestamptz,
	PRIMARY KEY (schema_name, table_name)
);
COMMENT ON TABLE ` + registryTable + ` IS ` + literal(
	"Prism's record of the tables it created in this database: a table is a Prism namespace's only while its row names it. "+
		"Prism never alters or drops a table without a row here. Do not edit by hand.") + `;`

// Queries on the registry and the catalog.
var (
	// lookupSQL finds the relation of that name and its columns.
	lookupSQL = `
SELECT c.relkind::text,
       coalesce((SELECT string_agg(a.attname::text, ', ' ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`
	rowSQL = `SELECT cluster_id, namespace, create_revision, released_at IS NOT NULL
FROM ` + registryTable + ` WHERE schema_name = $1 AND table_name = $2`
	schemaExistsSQL = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`
	lockSQL         = `SELECT pg_advisory_xact_lock($1, hashtext($2))`
	upsertRowSQL    = `INSERT INTO ` + registryTable + `
	(schema_name, table_name, cluster_id, namespace, create_revision, created_schema)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (schema_name, table_name) DO UPDATE SET
	cluster_id = EXCLUDED.cluster_id, namespace = EXCLUDED.namespace,
	create_revision = EXCLUDED.create_revision, created_schema = EXCLUDED.created_schema,
	created_at = now(), released_at = NULL`
	deleteRowSQL  = `DELETE FROM ` + registryTable + ` WHERE schema_name = $1 AND table_name = $2`
	releaseRowSQL = `UPDATE ` + registryTable + ` SET released_at = now()
WHERE schema_name = $1 AND table_name = $2 AND released_at IS NULL`
)

// row is a table's registry row.
type row struct {
	cluster, namespace string
	revision           int64
	released           bool
}

// state is what the database holds under a table's name.
type state struct {
	kind    string // pg_class.relkind; "" when nothing has the name
	columns string // "key, value, updated_at"
	row     *row   // nil when the registry has none
}

func (s state) exists() bool { return s.kind != "" }

// ours: the registry row is this namespace incarnation's and not released.
func (r *row) ours(req provision.Request) bool {
	return r != nil && !r.released && r.cluster == req.ClusterID && r.namespace == req.Namespace && r.revision == req.CreateRevision
}

// owner says whose the relation is, with a reason for the others.
func (s state) owner(req provision.Request) (provision.Owner, string) {
	switch {
	case !s.exists():
		return provision.OwnerNone, ""
	case s.kind != "r":
		return provision.OwnerOther, relkinds(s.kind) + ", not a table Prism created"
	case s.row.ours(req):
		return provision.OwnerThis, ""
	}
	return provision.OwnerOther, s.row.describe(req)
}

// describe names whose a row is, for a namespace that it is not.
func (r *row) describe(req provision.Request) string {
	switch {
	case r == nil:
		return "not created by Prism (no row in " + plan.RegistrySchema + ".resources)"
	case r.released:
		return fmt.Sprintf("created by Prism for namespace %q (cluster %s), then released (on_delete: retain); Prism no longer manages it", r.namespace, r.cluster)
	case r.cluster == req.ClusterID && r.namespace == req.Namespace && r.revision < req.CreateRevision:
		return fmt.Sprintf("created for an earlier incarnation of namespace %q (create revision %d)", r.namespace, r.revision)
	case r.cluster == req.ClusterID && r.namespace == req.Namespace:
		return fmt.Sprintf("created for a later incarnation of namespace %q (create revision %d)", r.namespace, r.revision)
	case r.cluster == req.ClusterID:
		return fmt.Sprintf("created by Prism for namespace %q", r.namespace)
	}
	return fmt.Sprintf("created by another Prism cluster (%s) for namespace %q", r.cluster, r.namespace)
}

// replaceable: with the table gone, its row may give way to this
// namespace's. A row of a later incarnation, or of a live namespace
// elsewhere, may not: that owner's table is missing, and it must find
// out, not find a stranger's table in its place.
func (r *row) replaceable(req provision.Request) bool {
	return r == nil || r.released ||
		r.cluster == req.ClusterID && r.namespace == req.Namespace && r.revision <= req.CreateRevision
}

func relkinds(k string) string {
	switch k {
	case "p":
		return "a partitioned table"
	case "v":
		return "a view"
	case "m":
		return "a materialized view"
	case "S":
		return "a sequence"
	case "i", "I":
		return "an index"
	case "f":
		return "a foreign table"
	case "c":
		return "a composite type"
	}
	return "a relation of kind " + k
}

// createSQL is the CREATE TABLE of a planned table and its comment. A
// column named "PRIMARY KEY" is a table constraint.
func createSQL(r plan.Resource, req provision.Request) string {
	var cols []string
	for _, c := range r.Columns {
		if c.Name == "PRIMARY KEY" {
			cols = append(cols, "PRIMARY KEY "+c.Type)
			continue
		}
		cols = append(cols, pgx.Identifier{c.Name}.Sanitize()+" "+c.Type)
	}
	name := pgx.Identifier{r.Schema, r.Table}.Sanitize()
	return "CREATE TABLE " + name + " (\n\t" + strings.Join(cols, ",\n\t") + "\n);\n" +
		"COMMENT ON TABLE " + name + " IS " + literal(fmt.Sprintf(
		"Managed by Prism: namespace %q, cluster %s, create revision %d. Prism drops it when the namespace is deleted (policies.on_delete: delete). Do not rename it.",
		req.Namespace, req.ClusterID, req.CreateRevision)) + ";"
}

// releasedComment replaces the comment of a released table.
func releasedComment(r plan.Resource, req provision.Request) string {
	return "COMMENT ON TABLE " + pgx.Identifier{r.Schema, r.Table}.Sanitize() + " IS " + literal(fmt.Sprintf(
		"Created by Prism for namespace %q (cluster %s), kept when it was deleted (policies.on_delete: retain). Prism no longer manages it.",
		req.Namespace, req.ClusterID)) + ";"
}

// literal quotes s as an escape string constant, which reads the same
// whatever standard_conforming_strings is.
func literal(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "E'" + s + "'"
}
