package plan

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// PostgresKeys are the settings of backend_config.postgres.
var PostgresKeys = []string{"connection_string", "pool_size", "schema", "table_name", "target"}

// MaxIdentifierBytes is Postgres's identifier limit (NAMEDATALEN-1): a
// longer name is truncated silently by the server, so it is refused here.
const MaxIdentifierBytes = 63

// RegistrySchema holds Prism's own bookkeeping in each target database; a
// namespace may not put its table there.
const RegistrySchema = "prism"

// Columns per abstraction. Every table has the column the gateway keys on
// first; updated_at / enqueued_at are stamped by the database.
var postgresColumns = map[string][]Column{
	"keyvalue": {
		{Name: "key", Type: "text PRIMARY KEY"},
		{Name: "value", Type: "bytea NOT NULL"},
		{Name: "updated_at", Type: "timestamptz NOT NULL DEFAULT now()"},
	},
	"document": {
		{Name: "id", Type: "text PRIMARY KEY"},
		{Name: "doc", Type: "jsonb NOT NULL"},
		{Name: "updated_at", Type: "timestamptz NOT NULL DEFAULT now()"},
	},
	// One row per point; the primary key orders a series by time.
	"timeseries": {
		{Name: "series", Type: "text NOT NULL"},
		{Name: "ts", Type: "timestamptz NOT NULL"},
		{Name: "value", Type: "jsonb NOT NULL"},
		{Name: "PRIMARY KEY", Type: "(series, ts)"},
	},
	// A work queue read with SELECT ... FOR UPDATE SKIP LOCKED: id orders
	// it, visible_at hides a message being worked on.
	"queue": {
		{Name: "id", Type: "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
		{Name: "payload", Type: "bytea NOT NULL"},
		{Name: "enqueued_at", Type: "timestamptz NOT NULL DEFAULT now()"},
		{Name: "visible_at", Type: "timestamptz NOT NULL DEFAULT now()"},
		{Name: "attempts", Type: "integer NOT NULL DEFAULT 0"},
	},
}

// DefaultTable is the table of a namespace that names none: its name with
// '-' replaced by '_'.
func DefaultTable(namespace string) string { return strings.ReplaceAll(namespace, "-", "_") }

func (b *builder) postgres() {
	m := b.settings(Postgres, PostgresKeys)
	r := Resource{Backend: Postgres, Kind: KindTable, Schema: "public", Table: DefaultTable(b.spec.GetName())}
	r.Target = b.postgresTarget(m)
	if s := b.str(m, Postgres, "schema"); s != "" {
		r.Schema = s
	}
	if t := b.str(m, Postgres, "table_name"); t != "" {
		r.Table = t
	}
	b.identifier(path(Postgres, "schema"), r.Schema)
	b.identifier(path(Postgres, "table_name"), r.Table)
	if low := strings.ToLower(r.Schema); low == RegistrySchema || strings.HasPrefix(low, "pg_") || low == "information_schema" {
		b.add(path(Postgres, "schema"), "\""+r.Schema+"\" is reserved (pg_*, information_schema and prism)")
	}
	b.integer(m, Postgres, "pool_size", 1, 10000)
	r.Columns = postgresColumns[b.spec.GetAbstraction()]
	b.plan.Resources = append(b.plan.Resources, r)
}

// identifier checks a name Postgres would otherwise truncate or refuse.
func (b *builder) identifier(p, id string) {
	switch {
	case id == "":
	case len(id) > MaxIdentifierBytes:
		b.add(p, "must be at most 63 bytes, or Postgres truncates it silently")
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		b.add(p, "must be valid UTF-8 without NUL")
	}
}

// postgresTarget reads target or connection_string. A connection string
// names a declared server by host, port and database; a password in it is
// refused, and the message never repeats the string.
func (b *builder) postgresTarget(m map[string]any) TargetRef {
	name := b.str(m, Postgres, "target")
	conn := b.str(m, Postgres, "connection_string")
	if name != "" && conn != "" {
		b.add(path(Postgres, "target"), "give target or connection_string, not both")
	}
	if name != "" {
		return TargetRef{Name: name}
	}
	if conn == "" {
		return TargetRef{}
	}
	ref, prob := ParsePostgresConn(conn)
	if prob != "" {
		b.add(path(Postgres, "connection_string"), prob)
	}
	return ref
}

// ParsePostgresConn parses a libpq connection string (a postgres:// URL or
// key=value pairs) into host, port and database. prob is non-empty when
// the string holds a password or cannot be read; it never quotes the
// string.
func ParsePostgresConn(s string) (ref TargetRef, prob string) {
	const noPassword = "must not contain a password: specs are replicated, snapshotted and streamed to shards; give prismd the password through PGPASSFILE or PGPASSWORD"
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			if strings.Contains(s, "@") && strings.Contains(s[strings.Index(s, "//")+2:strings.LastIndex(s, "@")+1], ":") {
				return ref, noPassword
			}
			return ref, "is not a valid postgres:// URL"
		}
		if _, has := u.User.Password(); has {
			return ref, noPassword
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") {
				return ref, noPassword
			}
		}
		ref.Host, ref.Port = u.Hostname(), u.Port()
		ref.Database = strings.TrimPrefix(u.Path, "/")
		if h := q.Get("host"); ref.Host == "" && h != "" {
			ref.Host = h
		}
		if d := q.Get("dbname"); d != "" {
			ref.Database = d
		}
	} else {
		for _, f := range strings.Fields(s) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return TargetRef{}, "must be a postgres:// URL or key=value pairs"
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "password":
				return TargetRef{}, noPassword
			case "host":
				ref.Host = strings.Trim(v, "'")
			case "port":
				ref.Port = strings.Trim(v, "'")
			case "dbname":
				ref.Database = strings.Trim(v, "'")
			}
		}
	}
	if ref.Host == "" {
		return TargetRef{}, "must name a host (it selects one of the servers declared to prismd)"
	}
	return ref, ""
}
