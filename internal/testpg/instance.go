package testpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// superuser is the role initdb creates.
const superuser = "postgres"

// dirPrefix names testpg's directories under os.TempDir().
const dirPrefix = "prism-testpg-"

// ownerFile in a directory holds the pid of the test binary that made it.
const ownerFile = "owner.pid"

var errNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH")

// instance is one server testpg runs: a directory holding its data, socket
// and log, and at most one postgres process at a time.
type instance struct {
	bin  string // directory of initdb and postgres
	dir  string
	port int
	cred *syscall.Credential // the postgres user when running as root

	mu   sync.Mutex
	proc *proc // nil when stopped
}

// proc is a running postmaster.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited and been reaped
}

func startInstance() (*instance, error) {
	removeStale()
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	inst := &instance{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(superuser)
		if err != nil {
			return nil, fmt.Errorf("running as root needs the %q user to run the server (the postgresql package creates it): %w", superuser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		inst.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if inst.dir, err = os.MkdirTemp("", dirPrefix); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(inst.dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(inst.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if inst.cred != nil {
		if err := os.Chown(inst.dir, int(inst.cred.Uid), int(inst.cred.Gid)); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", inst.dataDir(),
		"-U", superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = inst.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: inst.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, tail(out))
	}
	// A free port can be taken between choosing it and the server binding
	// it: choose again a few times.
	for attempt := 0; ; attempt++ {
		if inst.port, err = freePort(); err != nil {
			return nil, err
		}
		err = inst.start()
		if err == nil || attempt == 4 || !strings.Contains(err.Error(), "could not bind") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ok = true
	return inst, nil
}

func (i *instance) dataDir() string { return filepath.Join(i.dir, "data") }
func (i *instance) logPath() string { return filepath.Join(i.dir, "server.log") }

// findBinaries returns the newest /usr/lib/postgresql/N/bin, or the
// directory of initdb on PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(a, b int) bool {
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[a])), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[b])), 64)
		return va > vb
	})
	for _, d := range dirs {
		if usable(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && usable(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errNoBinaries
}

func usable(dir string) bool {
	for _, f := range []string{"initdb", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the postmaster and waits until it accepts connections.
func (i *instance) start() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(i.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own copy
	logStart, _ := logf.Seek(0, 2)
	cmd := exec.Command(filepath.Join(i.bin, "postgres"), "-D", i.dataDir(),
		"-p", strconv.Itoa(i.port), "-k", i.dir,
		"-c", "listen_addresses=127.0.0.1",
		// fsync off: a crash of the server (not of the machine) still
		// loses no committed transaction, as commits reach the OS.
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=200")
	cmd.Dir = i.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGQUIT is the postmaster's immediate shutdown: it ends the server
	// when this process dies, however it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: i.cred, Pdeathsig: syscall.SIGQUIT}
	p, err := spawn(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := i.waitReady(p); err != nil {
		p.kill()
		out, _ := os.ReadFile(i.logPath())
		if int64(len(out)) > logStart {
			out = out[logStart:]
		}
		return fmt.Errorf("%w\nserver log:\n%s", err, tail(out))
	}
	i.proc = p
	return nil
}

// spawn starts cmd from a goroutine locked to its thread, which then waits
// for the process. The parent-death signal is sent when the thread that
// forked the child ends; a locked thread ends only with its goroutine,
// which ends only once the process has been reaped.
func spawn(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		defer close(p.done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
	}()
	if err := <-started; err != nil {
		<-p.done
		return nil, err
	}
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig and waits up to d for the process to end.
func (p *proc) signal(sig os.Signal, d time.Duration) bool {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *proc) kill() {
	if !p.signal(syscall.SIGQUIT, 10*time.Second) {
		p.signal(syscall.SIGKILL, time.Minute)
	}
}

func (i *instance) waitReady(p *proc) error {
	url := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", superuser, i.port)
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("postgres exited during startup (last connect error: %v)", last)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("postgres not ready after %s: %v", startTimeout, last)
}

func (i *instance) running() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.proc != nil && !i.proc.exited()
}

// stop ends the server: immediate (SIGQUIT, as a crash) or fast (SIGINT:
// connections cut, a checkpoint).
func (i *instance) stop(immediate bool) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	p := i.proc
	if p == nil {
		return nil
	}
	i.proc = nil
	sig := os.Signal(syscall.SIGINT)
	if immediate {
		sig = syscall.SIGQUIT
	}
	if p.signal(sig, 30*time.Second) {
		return nil
	}
	if p.signal(syscall.SIGKILL, time.Minute) {
		return fmt.Errorf("postgres ignored %v for 30s; killed", sig)
	}
	return errors.New("postgres did not exit after SIGKILL")
}

// close stops the server and removes its directory.
func (i *instance) close() error {
	err := i.stop(false)
	if rerr := os.RemoveAll(i.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// removeStale removes the directories of test binaries that died without
// removing theirs.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			// Written right after the directory is made: missing for long
			// means it will never be.
			if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > time.Hour {
				os.RemoveAll(d)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || !alive(pid) {
			os.RemoveAll(d)
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// tail is the end of a command's output, for error messages.
func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}
