package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/provision/plan"
)

// Provisioner is the provision.Provisioner of plan.Postgres. It connects
// to a declared target on first use and to no other server.
type Provisioner struct {
	cfg     Config
	log     *slog.Logger
	targets map[string]provision.PostgresTarget

	mu     sync.Mutex
	conns  map[string]*target
	closed bool
}

var _ provision.Provisioner = (*Provisioner)(nil)

// target is one declared server's pool.
type target struct {
	name     string
	pool     *pgxpool.Pool
	password string      // from PGPASSWORD or PGPASSFILE: kept out of errors
	registry atomic.Bool // prism.resources is known to exist
}

// New is NewWithConfig with DefaultConfig.
func New(targets []provision.PostgresTarget, log *slog.Logger) *Provisioner {
	p, err := NewWithConfig(DefaultConfig(), targets, log)
	if err != nil {
		panic(err) // DefaultConfig is valid
	}
	return p
}

// NewWithConfig returns a provisioner of the targets. It connects to none
// yet; a target whose URL does not parse fails the calls that use it.
// Close it to close its connections.
func NewWithConfig(cfg Config, targets []provision.PostgresTarget, log *slog.Logger) (*Provisioner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Provisioner{
		cfg:     cfg,
		log:     log.With("component", "provision-postgres"),
		targets: make(map[string]provision.PostgresTarget, len(targets)),
		conns:   make(map[string]*target),
	}
	for _, t := range targets {
		p.targets[t.Name] = t
	}
	return p, nil
}

// Close closes every pool. Calls after Close fail.
func (p *Provisioner) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, t := range p.conns {
		t.pool.Close()
	}
	p.conns = map[string]*target{}
}

var errClosed = errors.New("postgres: provisioner closed")

// target returns the pool of the request's target, making it on first use.
func (p *Provisioner) target(req provision.Request) (*target, error) {
	r := req.Resource
	if r.Backend != plan.Postgres || r.Kind != plan.KindTable || r.Schema == "" || r.Table == "" {
		return nil, fmt.Errorf("%w: postgres provisioner given %s %s %q", provision.ErrInvalid, r.Backend, r.Kind, r.Name())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	if t := p.conns[req.Target]; t != nil {
		return t, nil
	}
	decl, ok := p.targets[req.Target]
	if !ok {
		return nil, fmt.Errorf("%w: postgres target %q", provision.ErrTargetUnknown, req.Target)
	}
	pc, err := pgxpool.ParseConfig(decl.URL)
	if err != nil {
		// The parse error quotes the URL: not repeated.
		return nil, fmt.Errorf("%w: postgres target %q: its url does not parse", provision.ErrInvalid, decl.Name)
	}
	pc.MaxConns = p.cfg.PoolSize
	pc.MinConns = 0
	pc.ConnConfig.ConnectTimeout = p.cfg.ConnectTimeout
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	if pc.ConnConfig.RuntimeParams["application_name"] == "" {
		pc.ConnConfig.RuntimeParams["application_name"] = "prism"
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres target %q: %v", provision.ErrInvalid, decl.Name, "pool: invalid configuration")
	}
	t := &target{name: decl.Name, pool: pool, password: pc.ConnConfig.Password}
	p.conns[req.Target] = t
	return t, nil
}

// Observe reports the table and whose it is.
func (p *Provisioner) Observe(ctx context.Context, req provision.Request) (provision.Observation, error) {
	t, err := p.target(req)
	if err != nil {
		return provision.Observation{}, err
	}
	st, err := lookup(ctx, t.pool, req.Resource, true)
	if err != nil {
		return provision.Observation{}, t.wrap("observe "+req.Resource.Name(), err)
	}
	return observation(st, req), nil
}

func observation(st state, req provision.Request) provision.Observation {
	o := provision.Observation{Exists: st.exists()}
	o.Owner, o.OwnerDetail = st.owner(req)
	if o.Exists {
		r := req.Resource
		if st.kind == "r" {
			o.Detail = fmt.Sprintf("table %s (%s)", r.Name(), st.columns)
		} else {
			o.Detail = fmt.Sprintf("%s %s", relkinds(st.kind), r.Name())
		}
	}
	return o
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lookup reads the relation of the resource's name and its registry row.
// optionalRegistry: a database without the registry has no rows (outside
// a transaction only: the failed query would abort one).
func lookup(ctx context.Context, q querier, r plan.Resource, optionalRegistry bool) (state, error) {
	var st state
	err := q.QueryRow(ctx, lookupSQL, r.Schema, r.Table).Scan(&st.kind, &st.columns)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, err
	}
	var rw row
	err = q.QueryRow(ctx, rowSQL, r.Schema, r.Table).Scan(&rw.cluster, &rw.namespace, &rw.revision, &rw.released)
	switch {
	case err == nil:
		st.row = &rw
	case errors.Is(err, pgx.ErrNoRows):
	case optionalRegistry && isUndefinedTable(err):
	default:
		return st, err
	}
	return st, nil
}

func isUndefinedTable(err error) bool {
	var pg interface{ SQLState() string }
	return errors.As(err, &pg) && pg.SQLState() == "42P01"
}

// Ensure creates the table and its registry row when the name is free; a
// table that is this incarnation's is left as it is (columns are fixed at
// creation); any other is ErrForeign, untouched.
func (p *Provisioner) Ensure(ctx context.Context, req provision.Request) (provision.Observation, error) {
	t, err := p.target(req)
	if err != nil {
		return provision.Observation{}, err
	}
	r := req.Resource
	created := false
	err = p.inTx(ctx, t, "ensure "+r.Name(), r, func(tx pgx.Tx, st state) error {
		if st.exists() {
			if owner, detail := st.owner(req); owner != provision.OwnerThis {
				return fmt.Errorf("%w: postgres target %q: table %s exists: %s; left untouched", provision.ErrForeign, t.name, r.Name(), detail)
			}
			return nil
		}
		if !st.row.replaceable(req) {
			return fmt.Errorf("%w: postgres target %q: table %s is missing and %s.resources still records it (%s); not created",
				provision.ErrForeign, t.name, r.Name(), plan.RegistrySchema, st.row.describe(req))
		}
		createdSchema, err := ensureSchema(ctx, tx, r.Schema)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createSQL(r, req)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertRowSQL, r.Schema, r.Table, req.ClusterID, req.Namespace, req.CreateRevision, createdSchema); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return provision.Observation{}, err
	}
	if created {
		p.log.Info("created table", "target", t.name, "table", r.Name(), "namespace", req.Namespace, "create_revision", req.CreateRevision)
	}
	return p.Observe(ctx, req)
}

// ensureSchema creates a missing schema, under the schema's lock so two
// tables of one new schema do not race its creation. It reports whether
// it created it.
func ensureSchema(ctx context.Context, tx pgx.Tx, schema string) (bool, error) {
	var exists bool
	if err := tx.QueryRow(ctx, schemaExistsSQL, schema).Scan(&exists); err != nil || exists {
		return false, err
	}
	if _, err := tx.Exec(ctx, lockSQL, lockSchema, pgx.Identifier{schema}.Sanitize()); err != nil {
		return false, err
	}
	if err := tx.QueryRow(ctx, schemaExistsSQL, schema).Scan(&exists); err != nil || exists {
		return false, err
	}
	_, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	return err == nil, err
}

// Delete drops the table and its row when the row is this incarnation's,
// checked in the transaction that drops. Absent is success; a table that
// is not this incarnation's is ErrForeign, untouched.
func (p *Provisioner) Delete(ctx context.Context, req provision.Request) error {
	t, err := p.target(req)
	if err != nil {
		return err
	}
	r := req.Resource
	dropped := false
	err = p.inTx(ctx, t, "delete "+r.Name(), r, func(tx pgx.Tx, st state) error {
		if !st.exists() {
			if st.row.ours(req) {
				_, err := tx.Exec(ctx, deleteRowSQL, r.Schema, r.Table)
				return err
			}
			return nil
		}
		if owner, detail := st.owner(req); owner != provision.OwnerThis {
			return fmt.Errorf("%w: postgres target %q: table %s exists: %s; not dropped", provision.ErrForeign, t.name, r.Name(), detail)
		}
		// No CASCADE: a view or key someone built on the table stops the
		// drop instead of vanishing with it.
		if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{r.Schema, r.Table}.Sanitize()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteRowSQL, r.Schema, r.Table); err != nil {
			return err
		}
		dropped = true
		return nil
	})
	if err == nil && dropped {
		p.log.Info("dropped table", "target", t.name, "table", r.Name(), "namespace", req.Namespace, "create_revision", req.CreateRevision)
	}
	return err
}

// Release marks this incarnation's row released: the table stays and is
// never this namespace's again. Anything else is left alone: nil.
func (p *Provisioner) Release(ctx context.Context, req provision.Request) error {
	t, err := p.target(req)
	if err != nil {
		return err
	}
	r := req.Resource
	return p.inTx(ctx, t, "release "+r.Name(), r, func(tx pgx.Tx, st state) error {
		if !st.row.ours(req) {
			return nil
		}
		if _, err := tx.Exec(ctx, releaseRowSQL, r.Schema, r.Table); err != nil {
			return err
		}
		if st.exists() && st.kind == "r" {
			if _, err := tx.Exec(ctx, releasedComment(r, req)); err != nil {
				return err
			}
		}
		p.log.Info("released table", "target", t.name, "table", r.Name(), "namespace", req.Namespace, "create_revision", req.CreateRevision)
		return nil
	})
}

// inTx runs fn in a READ COMMITTED transaction holding the table's
// advisory lock, given the table's state read under the lock, and commits
// if fn returns nil. Errors of fn that already carry a provision kind keep
// it.
func (p *Provisioner) inTx(ctx context.Context, t *target, what string, r plan.Resource, fn func(pgx.Tx, state) error) error {
	if err := p.ensureRegistry(ctx, t); err != nil {
		return t.wrap("create the registry "+plan.RegistrySchema+".resources", err)
	}
	err := pgx.BeginTxFunc(ctx, t.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, p.timeoutsSQL()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, lockSQL, lockTable, pgx.Identifier{r.Schema, r.Table}.Sanitize()); err != nil {
			return err
		}
		st, err := lookup(ctx, tx, r, false)
		if err != nil {
			return err
		}
		return fn(tx, st)
	})
	if err == nil {
		return nil
	}
	if isUndefinedTable(err) {
		t.registry.Store(false) // dropped under us: create it again next time
	}
	if isKind(err) {
		return err
	}
	return t.wrap(what, err)
}

// isKind: err already says its provision kind (returned by fn).
func isKind(err error) bool {
	for _, k := range []error{provision.ErrForeign, provision.ErrInvalid, provision.ErrPermission, provision.ErrTransient, provision.ErrUnreachable} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

func (p *Provisioner) timeoutsSQL() string {
	return fmt.Sprintf("SET LOCAL lock_timeout = %d; SET LOCAL statement_timeout = %d",
		p.cfg.LockTimeout.Milliseconds(), p.cfg.StatementTimeout.Milliseconds())
}

// ensureRegistry creates prism.resources once per target (again after it
// was found dropped).
func (p *Provisioner) ensureRegistry(ctx context.Context, t *target) error {
	if t.registry.Load() {
		return nil
	}
	err := pgx.BeginTxFunc(ctx, t.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, p.timeoutsSQL()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, lockSQL, lockRegistry, registryTable); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, registryDDL)
		return err
	})
	if err == nil {
		t.registry.Store(true)
	}
	return err
}
