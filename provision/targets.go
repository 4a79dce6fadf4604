package provision

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prism/controlplane/provision/plan"
)

// DefaultTarget is the name of the target --postgres-url and
// --kafka-brokers declare.
const DefaultTarget = "default"

// PostgresTarget is a Postgres server (and database) Prism may manage.
// URL never holds a password: pgx reads PGPASSFILE / PGPASSWORD.
type PostgresTarget struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

// KafkaTarget is a Kafka cluster Prism may manage.
type KafkaTarget struct {
	Name    string   `yaml:"name"`
	Brokers []string `yaml:"brokers"`
	// ReplicationFactor of new topics that do not set one (0: the
	// brokers' default).
	ReplicationFactor int32 `yaml:"replication_factor"`
}

// Targets are the servers the operator declared. prismd never connects to
// a server that is not here.
type Targets struct {
	Postgres []PostgresTarget `yaml:"postgres"`
	Kafka    []KafkaTarget    `yaml:"kafka"`
}

// LoadTargets reads a --backends file.
func LoadTargets(path string) (Targets, error) {
	var t Targets
	b, err := os.ReadFile(path)
	if err != nil {
		return t, fmt.Errorf("provision: backends file: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("provision: backends file %s: %w", path, err)
	}
	return t, nil
}

// Validate checks names are unique and set, URLs parse without passwords,
// and Kafka targets name brokers. Its errors never repeat a URL.
func (t Targets) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range t.Postgres {
		if p.Name == "" || seen["p/"+p.Name] {
			errs = append(errs, fmt.Errorf("postgres[%d]: name must be set and unique", i))
		}
		seen["p/"+p.Name] = true
		if err := CheckPostgresURL(p.URL); err != nil {
			errs = append(errs, fmt.Errorf("postgres[%d] (%s): url %w", i, p.Name, err))
		}
	}
	for i, k := range t.Kafka {
		if k.Name == "" || seen["k/"+k.Name] {
			errs = append(errs, fmt.Errorf("kafka[%d]: name must be set and unique", i))
		}
		seen["k/"+k.Name] = true
		if len(k.Brokers) == 0 {
			errs = append(errs, fmt.Errorf("kafka[%d] (%s): brokers must not be empty", i, k.Name))
		}
		if k.ReplicationFactor < 0 || k.ReplicationFactor > plan.MaxReplicationFactor {
			errs = append(errs, fmt.Errorf("kafka[%d] (%s): replication_factor must be 0..%d", i, k.Name, plan.MaxReplicationFactor))
		}
	}
	return errors.Join(errs...)
}

// Resolve finds the declared target a resource names: by name, by the
// host, port and database of a connection string, by an overlapping
// bootstrap server, or the default target. ErrTargetUnknown otherwise.
func (t Targets) Resolve(r plan.Resource) (string, error) {
	ref := r.Target
	switch r.Backend {
	case plan.Postgres:
		for _, p := range t.Postgres {
			if ref.Name != "" && p.Name == ref.Name || ref.Default() && p.Name == DefaultTarget {
				return p.Name, nil
			}
			if ref.Host != "" && pgMatches(p.URL, ref) {
				return p.Name, nil
			}
		}
	case plan.Kafka:
		for _, k := range t.Kafka {
			if ref.Name != "" && k.Name == ref.Name || ref.Default() && k.Name == DefaultTarget {
				return k.Name, nil
			}
			for _, b := range ref.Brokers {
				if slices.Contains(k.Brokers, b) {
					return k.Name, nil
				}
			}
		}
	default:
		return "", fmt.Errorf("%w: %s", ErrNoProvisioner, r.Backend)
	}
	if ref.Default() {
		return "", fmt.Errorf("%w: no default %s target on this node (prismd --%s)", ErrTargetUnknown, r.Backend, map[string]string{plan.Postgres: "postgres-url", plan.Kafka: "kafka-brokers"}[r.Backend])
	}
	return "", fmt.Errorf("%w: %s names %s, which is not declared to prismd (--backends)", ErrTargetUnknown, r.Backend, ref)
}

// pgMatches: a declared URL is the server and database a connection
// string names (port 5432 when unset).
func pgMatches(declared string, ref plan.TargetRef) bool {
	u, err := url.Parse(declared)
	if err != nil {
		return false
	}
	port := func(p string) string {
		if p == "" {
			return "5432"
		}
		return p
	}
	db := strings.TrimPrefix(u.Path, "/")
	return strings.EqualFold(u.Hostname(), ref.Host) && port(u.Port()) == port(ref.Port) && (ref.Database == "" || db == ref.Database)
}

// Postgres returns the declared Postgres target of that name.
func (t Targets) PostgresTarget(name string) (PostgresTarget, bool) {
	for _, p := range t.Postgres {
		if p.Name == name {
			return p, true
		}
	}
	return PostgresTarget{}, false
}

// KafkaTarget returns the declared Kafka target of that name.
func (t Targets) KafkaTarget(name string) (KafkaTarget, bool) {
	for _, k := range t.Kafka {
		if k.Name == name {
			return k, true
		}
	}
	return KafkaTarget{}, false
}

// CheckPostgresURL: a postgres:// URL without a password (pgx reads
// PGPASSFILE / PGPASSWORD). The errors never quote the URL.
func CheckPostgresURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("must be a postgres:// URL")
	}
	if _, has := u.User.Password(); has || u.Query().Has("password") {
		return errors.New("must not contain a password; use PGPASSFILE or PGPASSWORD")
	}
	return nil
}
