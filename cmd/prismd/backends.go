package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/provision/kafka"
	"github.com/prism/controlplane/provision/postgres"
)

// targets are the backend servers this node may manage: --backends, plus
// the default targets of --postgres-url and --kafka-brokers. Errors never
// repeat a URL.
func (o *options) targets() (provision.Targets, error) {
	var t provision.Targets
	if o.backendsFile != "" {
		var err error
		if t, err = provision.LoadTargets(o.backendsFile); err != nil {
			return t, err
		}
	}
	if o.postgresURL != "" {
		if _, dup := t.PostgresTarget(provision.DefaultTarget); dup {
			return t, fmt.Errorf("--postgres-url and a postgres target named %q in --backends: give one", provision.DefaultTarget)
		}
		t.Postgres = append(t.Postgres, provision.PostgresTarget{Name: provision.DefaultTarget, URL: o.postgresURL})
	}
	if o.kafkaBrokers != "" {
		if _, dup := t.KafkaTarget(provision.DefaultTarget); dup {
			return t, fmt.Errorf("--kafka-brokers and a kafka target named %q in --backends: give one", provision.DefaultTarget)
		}
		t.Kafka = append(t.Kafka, provision.KafkaTarget{Name: provision.DefaultTarget, Brokers: splitList(o.kafkaBrokers)})
	}
	return t, t.Validate()
}

// backends builds the provisioners (none with --provisioning=false) and
// the archive (none without --archive-url). The returned close releases
// their connections.
func (o *options) backends(log *slog.Logger) (*server.Backends, func(), error) {
	b := &server.Backends{}
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if o.archiveURL != "" {
		cfg := archive.DefaultStoreConfig()
		cfg.URL = o.archiveURL
		ar, err := archive.NewLazy(cfg, log.With("component", "archive"))
		if err != nil {
			return nil, nil, fmt.Errorf("--archive-url: %w", err)
		}
		b.Archive = ar
		closers = append(closers, ar.Close)
	}
	if !o.provisioning {
		if o.postgresURL != "" || o.kafkaBrokers != "" || o.backendsFile != "" {
			return nil, nil, errors.New("--provisioning=false takes no --postgres-url, --kafka-brokers or --backends")
		}
		return b, closeAll, nil
	}
	t, err := o.targets()
	if err != nil {
		return nil, nil, err
	}
	pg := postgres.New(t.Postgres, log.With("component", "provision", "backend", "postgres"))
	kf := kafka.New(t.Kafka, log.With("component", "provision", "backend", "kafka"))
	closers = append(closers, pg.Close, kf.Close)
	b.Provisioners, b.Targets = provision.Registry{"postgres": pg, "kafka": kf}, t
	return b, closeAll, nil
}
