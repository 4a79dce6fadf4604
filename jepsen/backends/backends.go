// Package backends runs the backends host of a Jepsen run (--backends): a
// network namespace of its own (<prefix>-b at 10.77.0.50) holding a
// throwaway PostgreSQL server (Debian's binaries, run as the postgres user,
// data under the report dir, trust authentication for the test subnet
// only) and prism-devbroker (the Kafka protocol, kfake). prismd is pointed
// at them with --postgres-url and --kafka-brokers.
//
// It is used from the runner, inside the client namespace: the readiness
// and inventory calls dial 10.77.0.50, which is in the test network.
// Everything started here lives in the backends namespace, which the
// controller kills and deletes with the others.
package backends

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/jepsen/hosts"
	"github.com/prism/controlplane/jepsen/netns"
)

// Ports and names on the backends host.
const (
	PostgresPort = 5432
	BrokerPort   = 9092
	Database     = "prism"
	// ArchiveDatabase holds prismd's archive (--archive): a database of
	// its own, so the resources inventory of Database never sees the
	// archive's tables.
	ArchiveDatabase = "prism_archive_db"
	pgUser          = "postgres"
)

// Host is the backends host.
type Host struct {
	Net       *netns.Net
	Dir       string // <report dir>/b
	DevBroker string // prism-devbroker binary
	Log       func(string, ...any)

	bin string // newest /usr/lib/postgresql/*/bin

	mu         sync.Mutex
	pgUp       bool // started by us and not stopped
	pgStops    int  // stops by the nemesis, for the report
	broker     *exec.Cmd
	brokerDone chan struct{}
	crashes    []string // the broker exited on its own
}

// New describes the backends host of a run.
func New(net *netns.Net, reportDir, devBroker string, logf func(string, ...any)) *Host {
	return &Host{Net: net, Dir: filepath.Join(reportDir, "b"), DevBroker: devBroker, Log: logf}
}

// PostgresURL is the URL prismd and the checker use (no password: trust).
func PostgresURL() string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", pgUser, netns.BackendsIP, PostgresPort, Database)
}

// ArchiveURL is the archive database's URL (prismd --archive-url and the
// archive checker; no password: trust).
func ArchiveURL() string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", pgUser, netns.BackendsIP, PostgresPort, ArchiveDatabase)
}

// KafkaBrokers is the broker's bootstrap address.
func KafkaBrokers() string { return fmt.Sprintf("%s:%d", netns.BackendsIP, BrokerPort) }

func (h *Host) pgDir() string     { return filepath.Join(h.Dir, "pg") }
func (h *Host) pgData() string    { return filepath.Join(h.pgDir(), "data") }
func (h *Host) pgLog() string     { return filepath.Join(h.pgDir(), "postgres.log") }
func (h *Host) readyFile() string { return filepath.Join(h.Dir, "broker.ready") }

// PostgresBin finds the newest installed server's bin directory.
func PostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		return "", errors.New("no PostgreSQL server in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)")
	}
	sort.Slice(ok, func(i, j int) bool { return version(ok[i]) < version(ok[j]) })
	return ok[len(ok)-1], nil
}

func version(binDir string) int {
	v := 0
	fmt.Sscanf(filepath.Base(filepath.Dir(binDir)), "%d", &v)
	return v
}

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// asPostgres runs a server tool as the postgres user inside the backends
// namespace (the server refuses to run as root).
func (h *Host) asPostgres(tool string, args ...string) error {
	a := append([]string{"netns", "exec", h.Net.Backend(), "runuser", "-u", pgUser, "--", filepath.Join(h.bin, tool)}, args...)
	return run("ip", a...)
}

// Start makes the Postgres cluster, starts it and the broker, and waits
// until both answer (or ctx ends).
func (h *Host) Start(ctx context.Context) error {
	bin, err := PostgresBin()
	if err != nil {
		return err
	}
	h.bin = bin
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(h.pgDir(), 0o700); err != nil {
		return err
	}
	if err := run("chown", pgUser+":", h.pgDir()); err != nil {
		return err
	}
	if err := run("runuser", "-u", pgUser, "--", "test", "-x", h.pgDir()); err != nil {
		return fmt.Errorf("the postgres user cannot reach %s (a parent directory is not searchable by others): use a --report-dir it can reach, e.g. under /tmp", h.pgDir())
	}
	t0 := time.Now()
	if err := h.asPostgres("initdb", "-D", h.pgData(), "-U", pgUser, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		return err
	}
	// Only the test subnet may connect (the namespace has no other
	// network); trust, as local-postgres.sh does on loopback.
	f, err := os.OpenFile(filepath.Join(h.pgData(), "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "host all all %s0/24 trust\n", netns.Subnet)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("pg_hba.conf: %w", err)
	}
	if err := h.StartPostgres(); err != nil {
		return err
	}
	if err := h.createDatabase(ctx); err != nil {
		return err
	}
	h.Log("backends: postgres %s on %s:%d ready in %.1fs (data %s)", filepath.Base(filepath.Dir(bin)), netns.BackendsIP, PostgresPort, time.Since(t0).Seconds(), h.pgData())
	if err := h.StartBroker(); err != nil {
		return err
	}
	for {
		if b, err := os.ReadFile(h.readyFile()); err == nil && len(bytes.TrimSpace(b)) > 0 {
			h.Log("backends: prism-devbroker on %s", strings.TrimSpace(string(b)))
			return nil
		}
		h.mu.Lock()
		done := h.brokerDone
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("prism-devbroker not ready: %w", ctx.Err())
		case <-done:
			return fmt.Errorf("prism-devbroker exited at start (log %s)", filepath.Join(h.Dir, "devbroker.log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serverOpts are the postgres options: listen on the backends address
// only, no Unix socket, no fsync (a throwaway server: a crash of the server
// processes, which is what postgres-kill does, loses nothing the kernel
// holds). Commits stay synchronous: with synchronous_commit=off a commit
// acknowledged less than ~200 ms before such a crash is lost, and the
// table it created vanishes behind Prism's back.
func serverOpts() string {
	return fmt.Sprintf("-p %d -c listen_addresses=%s -c unix_socket_directories='' -c fsync=off -c full_page_writes=off",
		PostgresPort, netns.BackendsIP)
}

// StartPostgres starts the server (pg_ctl waits until it accepts
// connections).
func (h *Host) StartPostgres() error {
	if err := h.asPostgres("pg_ctl", "-D", h.pgData(), "-l", h.pgLog(), "-w", "-t", "60", "-o", serverOpts(), "start"); err != nil {
		return fmt.Errorf("start postgres (log %s): %w", h.pgLog(), err)
	}
	h.mu.Lock()
	h.pgUp = true
	h.mu.Unlock()
	return nil
}

// StopPostgres stops the server: mode "immediate" is a crash (every server
// process quits at once, WAL replay at the next start), "fast" a clean stop.
func (h *Host) StopPostgres(mode string) error {
	h.mu.Lock()
	up := h.pgUp
	h.pgUp = false
	if mode == "immediate" {
		h.pgStops++
	}
	h.mu.Unlock()
	if !up {
		return nil
	}
	return h.asPostgres("pg_ctl", "-D", h.pgData(), "-m", mode, "-w", "-t", "60", "stop")
}

// PostgresUp reports whether the server is started (by us, not stopped).
func (h *Host) PostgresUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pgUp
}

// createDatabase creates Database and ArchiveDatabase (the archive's
// stays empty unless prismd runs with --archive-url).
func (h *Host) createDatabase(ctx context.Context) error {
	u := fmt.Sprintf("postgres://%s@%s:%d/postgres", pgUser, netns.BackendsIP, PostgresPort)
	var last error
	made := map[string]bool{}
	for try := 0; try < 50 && ctx.Err() == nil; try++ {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		conn, err := pgx.Connect(cctx, u)
		if err == nil {
			for _, db := range []string{Database, ArchiveDatabase} {
				if err == nil && !made[db] {
					if _, err = conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err == nil {
						made[db] = true
					}
				}
			}
			conn.Close(cctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("create databases %s and %s: %v", Database, ArchiveDatabase, last)
}

// StartBroker starts prism-devbroker in the backends namespace.
func (h *Host) StartBroker() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.broker != nil {
		return errors.New("prism-devbroker already running")
	}
	_ = os.Remove(h.readyFile())
	cmd := exec.Command("ip", "netns", "exec", h.Net.Backend(), h.DevBroker,
		"--addr", KafkaBrokers(), "--ready-file", h.readyFile(), "--log-level", "info")
	done, err := hosts.StartLogged(cmd, filepath.Join(h.Dir, "devbroker.log"), "prism-devbroker")
	if err != nil {
		return err
	}
	h.broker, h.brokerDone = cmd, done
	go func() {
		<-done
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.broker == cmd { // not stopped by us
			h.crashes = append(h.crashes, fmt.Sprintf("prism-devbroker exited on its own at %s (%s)",
				time.Now().Format(time.RFC3339Nano), filepath.Join(h.Dir, "devbroker.log")))
			h.broker = nil
		}
	}()
	return nil
}

func (h *Host) stopBroker() error {
	h.mu.Lock()
	cmd, done := h.broker, h.brokerDone
	h.broker = nil
	h.mu.Unlock()
	return hosts.KillWait(cmd, done, "prism-devbroker")
}

// Problems lists what went wrong on the host on its own: the broker
// exited, or the server is not running at the end although nothing
// stopped it for good.
func (h *Host) Problems() []string {
	h.mu.Lock()
	out := append([]string(nil), h.crashes...)
	up := h.pgUp
	h.mu.Unlock()
	if up && h.bin != "" {
		if err := h.asPostgres("pg_ctl", "-D", h.pgData(), "status"); err != nil {
			out = append(out, fmt.Sprintf("postgres is not running (log %s): %v", h.pgLog(), err))
		}
	}
	return out
}

// CrashStops is how many times the nemesis crashed the server.
func (h *Host) CrashStops() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pgStops
}

// Stop stops the server (fast, so it removes its shared memory) and the
// broker. Safe to call more than once.
func (h *Host) Stop() {
	if h.bin != "" {
		if err := h.StopPostgres("fast"); err != nil {
			h.Log("backends: stop postgres: %v", err)
		}
	}
	if err := h.stopBroker(); err != nil {
		h.Log("backends: %v", err)
	}
}
