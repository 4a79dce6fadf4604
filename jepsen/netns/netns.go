// Package netns builds and tears down the test network of a Jepsen run,
// after ../shared/netns-faults.md: one hub namespace holding a bridge, one
// namespace per prismd host (10.77.0.I), one client namespace
// (10.77.0.100) and, with Backends, one backends host (10.77.0.50). Nothing
// is created in the root namespace, and nothing here ever dials a test
// address: the callers run every client inside the client namespace.
package netns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Subnet is the /24 every run uses inside its own hub (runs do not share
// bridges, so concurrent runs do not collide).
const Subnet = "10.77.0."

// ClientIP is the address of the client namespace.
const ClientIP = Subnet + "100"

// NodeIP is the address of host i (1-based).
func NodeIP(i int) string { return Subnet + strconv.Itoa(i) }

// BackendsHost is the host number of the backends host (Postgres and the
// Kafka-protocol broker): a Drop may name it like a node.
const BackendsHost = 50

// BackendsIP is the address of the backends host.
var BackendsIP = NodeIP(BackendsHost)

// Net is the network of one run.
type Net struct {
	Prefix string // e.g. "jp3fa1"
	Nodes  int
	// Backends adds the backends host (namespace <prefix>-b at BackendsIP).
	Backends bool
}

// Hub, Client and Node name the namespaces.
func (n *Net) Hub() string       { return n.Prefix + "-hub" }
func (n *Net) Client() string    { return n.Prefix + "-c" }
func (n *Net) Node(i int) string { return n.Prefix + "-n" + strconv.Itoa(i) }
func (n *Net) Backend() string   { return n.Prefix + "-b" }
func (n *Net) all() []string {
	out := []string{n.Client()}
	for i := 1; i <= n.Nodes; i++ {
		out = append(out, n.Node(i))
	}
	if n.Backends {
		out = append(out, n.Backend())
	}
	return append(out, n.Hub())
}

func run(args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func runIn(stdin string, args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Create builds the hub, the node hosts and the client host.
func (n *Net) Create() error {
	hub := n.Hub()
	steps := [][]string{
		{"ip", "netns", "add", hub},
		{"ip", "-n", hub, "link", "set", "lo", "up"},
		{"ip", "-n", hub, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"ip", "-n", hub, "link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	for i := 1; i <= n.Nodes; i++ {
		if err := n.attach(n.Node(i), "v"+strconv.Itoa(i), NodeIP(i)); err != nil {
			return err
		}
	}
	if err := n.attach(n.Client(), "vc", ClientIP); err != nil {
		return err
	}
	if n.Backends {
		if err := n.attach(n.Backend(), "vb", BackendsIP); err != nil {
			return err
		}
	}
	return runIn(`table bridge jepsen {
  chain pfwd { type filter hook forward priority 0; policy accept; }
}
`, "ip", "netns", "exec", hub, "nft", "-f", "-")
}

func (n *Net) attach(ns, port, ip string) error {
	hub := n.Hub()
	for _, s := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", hub, "link", "set", port, "master", "br0"},
		{"ip", "-n", hub, "link", "set", port, "up"},
		{"ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
	} {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

// Drop is one directed cut: packets from any of From to any of To are dropped.
type Drop struct{ From, To []int }

// Apply replaces the partition rules atomically with drops (none: heal).
func (n *Net) Apply(drops []Drop) error {
	var b strings.Builder
	b.WriteString("flush chain bridge jepsen pfwd\n")
	for _, d := range drops {
		if len(d.From) == 0 || len(d.To) == 0 {
			continue
		}
		fmt.Fprintf(&b, "add rule bridge jepsen pfwd ip saddr { %s } ip daddr { %s } drop\n", ips(d.From), ips(d.To))
	}
	return runIn(b.String(), "ip", "netns", "exec", n.Hub(), "nft", "-f", "-")
}

// Heal removes every partition rule.
func (n *Net) Heal() error { return n.Apply(nil) }

func ips(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = NodeIP(id)
	}
	return strings.Join(s, ", ")
}

// Pids lists the processes living in namespace ns.
func Pids(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// Destroy kills whatever still lives in the run's namespaces (they are the
// run's own: nothing else is ever started in them) and deletes them.
func (n *Net) Destroy() error {
	return DestroyPrefix(n.Prefix, n.all())
}

// DestroyPrefix deletes the given namespaces of one prefix, killing their
// processes first.
func DestroyPrefix(prefix string, names []string) error {
	var errs []string
	for _, ns := range names {
		if !strings.HasPrefix(ns, prefix+"-") || !exists(ns) {
			continue
		}
		for try := 0; try < 50; try++ {
			pids := Pids(ns)
			if len(pids) == 0 {
				break
			}
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGCONT)
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if errs != nil {
		return fmt.Errorf("netns teardown: %s", strings.Join(errs, "; "))
	}
	return nil
}

func exists(ns string) bool {
	_, err := os.Stat("/var/run/netns/" + ns)
	return err == nil
}

// List returns every namespace name whose name starts with prefix.
func List(prefix string) []string {
	out, _ := exec.Command("ip", "netns", "list").Output()
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	sort.Strings(names)
	return names
}
