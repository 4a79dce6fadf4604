package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/internal/tlsutil"
)

// tlsFile is one file a tls command wrote, as -o json prints it.
type tlsFile struct {
	Path string `json:"path"`
	What string `json:"what"` // ca-cert, ca-key, cert, key
	Mode string `json:"mode"`
}

// tlsWritten is what a tls command prints.
type tlsWritten struct {
	Identity    string    `json:"identity"` // spiffe://<cluster> for a CA
	ClusterName string    `json:"cluster_name"`
	Hosts       []string  `json:"hosts,omitempty"`
	NotAfter    time.Time `json:"not_after"`
	Files       []tlsFile `json:"files"`
}

func (g *globals) printWritten(w tlsWritten) error {
	return g.emit(w, func(out io.Writer) {
		fmt.Fprintf(out, "IDENTITY\t%s\n", w.Identity)
		if len(w.Hosts) > 0 {
			fmt.Fprintf(out, "HOSTS\t%s\n", strings.Join(w.Hosts, ","))
		}
		fmt.Fprintf(out, "NOT AFTER\t%s\n", w.NotAfter.UTC().Format(time.RFC3339))
		for _, f := range w.Files {
			fmt.Fprintf(out, "WROTE\t%s\t%s\t%s\n", f.Path, f.What, f.Mode)
		}
	})
}

func tlsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "tls", Short: "Create a local CA and certificates for nodes, shards and clients (files only; no cluster is contacted)"}
	ca := &cobra.Command{Use: "ca", Short: "The cluster's certificate authority"}
	var caDir, clusterName string
	var caDays int
	caCreate := &cobra.Command{
		Use:   "create",
		Short: "Write a new CA (" + tlsutil.CACertFile + ", " + tlsutil.CAKeyFile + ") into --dir; never overwrites",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := tlsutil.ValidateClusterName(clusterName); err != nil {
				return usageErr("--cluster-name: %v", err)
			}
			if caDays < 1 {
				return usageErr("--days %d: want at least 1", caDays)
			}
			now := time.Now()
			ca, p, err := tlsutil.NewCA(clusterName, time.Duration(caDays)*24*time.Hour, now)
			if err != nil {
				return err
			}
			cert, key := tlsutil.CAPaths(caDir)
			if err := tlsutil.WritePair(cert, key, p); err != nil {
				return tlsError(err)
			}
			return g.printWritten(tlsWritten{
				Identity: "spiffe://" + clusterName, ClusterName: clusterName, NotAfter: ca.Cert.NotAfter,
				Files: []tlsFile{{cert, "ca-cert", "0644"}, {key, "ca-key", "0600"}},
			})
		},
	}
	caCreate.Flags().StringVar(&caDir, "dir", ".", "directory to write the CA files to (created 0700 if missing)")
	caCreate.Flags().StringVar(&clusterName, "cluster-name", tlsutil.DefaultClusterName, "the cluster the CA signs for (prismd --cluster-name)")
	caCreate.Flags().IntVar(&caDays, "days", int(tlsutil.DefaultCAValidity/(24*time.Hour)), "days the CA is valid")
	ca.AddCommand(caCreate)

	cert := &cobra.Command{Use: "cert", Short: "Certificates signed by the CA"}
	var node, shard, clientID, hosts, dir, caFrom string
	var days int
	certCreate := &cobra.Command{
		Use:   "create (--node ID | --shard ID | --client KIND/NAME)",
		Short: "Write a certificate and key (<kind>-<name>.pem, <kind>-<name>-key.pem) signed by the CA in --dir; never overwrites",
		Long: `Write a certificate and key signed by the CA in --dir (or --ca-dir).

The certificate's one URI SAN is its identity: spiffe://<cluster>/<kind>/<name>,
the cluster name taken from the CA. --node makes a node certificate (server and
client use; 127.0.0.1, ::1, localhost and every --host as DNS/IP SANs), for
prismd --tls-cert. --shard ID and --client KIND/NAME (kind shard, service, team
or user; a NAME alone is user/NAME) make client certificates, for prism-shard
and prismctl --cert.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			id, err := certIdentity(node, shard, clientID)
			if err != nil {
				return err
			}
			hostList := splitComma(hosts)
			if len(hostList) > 0 && id.Kind != tlsutil.KindNode {
				return usageErr("--host is for node certificates (--node)")
			}
			for _, h := range hostList {
				if net.ParseIP(h) == nil && !validDNSName(h) {
					return usageErr("--host %q: want an IP address or a DNS name", h)
				}
			}
			if days < 1 {
				return usageErr("--days %d: want at least 1", days)
			}
			if caFrom == "" {
				caFrom = dir
			}
			ca, err := tlsutil.LoadCA(caFrom)
			if err != nil {
				return tlsError(err)
			}
			p, leaf, err := ca.Sign(tlsutil.LeafRequest{Identity: id, Hosts: hostList, Validity: time.Duration(days) * 24 * time.Hour}, time.Now())
			if err != nil {
				return tlsError(err)
			}
			certPath, keyPath := tlsutil.LeafPaths(dir, id)
			if err := tlsutil.WritePair(certPath, keyPath, p); err != nil {
				return tlsError(err)
			}
			w := tlsWritten{Identity: leaf.URIs[0].String(), ClusterName: ca.ClusterName, NotAfter: leaf.NotAfter,
				Files: []tlsFile{{certPath, "cert", "0644"}, {keyPath, "key", "0600"}}}
			for _, ip := range leaf.IPAddresses {
				w.Hosts = append(w.Hosts, ip.String())
			}
			w.Hosts = append(w.Hosts, leaf.DNSNames...)
			if leaf.NotAfter.Before(time.Now().Add(time.Duration(days) * 24 * time.Hour).Add(-time.Hour)) {
				fmt.Fprintf(os.Stderr, "Warning: the certificate expires with the CA, on %s\n", leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			return g.printWritten(w)
		},
	}
	f := certCreate.Flags()
	f.StringVar(&node, "node", "", "a node certificate for prismd --node-id ID")
	f.StringVar(&shard, "shard", "", "a client certificate for shard ID (prism-shard --id)")
	f.StringVar(&clientID, "client", "", "a client certificate for KIND/NAME: kind shard, service, team or user (NAME alone: user/NAME)")
	f.StringVar(&hosts, "host", "", "comma list of extra DNS names and IP addresses a node is dialled at")
	f.IntVar(&days, "days", int(tlsutil.DefaultLeafValidity/(24*time.Hour)), "days the certificate is valid (at most until the CA expires)")
	f.StringVar(&dir, "dir", ".", "directory holding the CA and receiving the certificate")
	f.StringVar(&caFrom, "ca-dir", "", "directory holding the CA when not --dir")
	cert.AddCommand(certCreate)
	c.AddCommand(ca, cert)
	return c
}

// certIdentity is the identity of exactly one of --node, --shard and
// --client (the cluster is the CA's, filled in when signing).
func certIdentity(node, shard, clientID string) (tlsutil.Identity, error) {
	var id tlsutil.Identity
	n := 0
	if node != "" {
		n++
		id = tlsutil.Identity{Kind: tlsutil.KindNode, Name: node}
	}
	if shard != "" {
		n++
		id = tlsutil.Identity{Kind: tlsutil.KindShard, Name: shard}
	}
	if clientID != "" {
		n++
		kind, name, ok := strings.Cut(clientID, "/")
		if !ok {
			kind, name = string(tlsutil.KindUser), clientID
		}
		switch tlsutil.Kind(kind) {
		case tlsutil.KindShard, tlsutil.KindService, tlsutil.KindTeam, tlsutil.KindUser:
		case tlsutil.KindNode:
			return id, usageErr("--client %q: node certificates are made with --node", clientID)
		default:
			return id, usageErr("--client %q: kind %q is not shard, service, team or user", clientID, kind)
		}
		id = tlsutil.Identity{Kind: tlsutil.Kind(kind), Name: name}
	}
	if n != 1 {
		return id, usageErr("give exactly one of --node ID, --shard ID, --client KIND/NAME")
	}
	probe := id
	probe.Cluster = tlsutil.DefaultClusterName
	if err := probe.Validate(); err != nil {
		return id, usageErr("%v", err)
	}
	return id, nil
}

// tlsError classifies a tlsutil error for the exit code.
func tlsError(err error) error {
	switch {
	case errors.Is(err, tlsutil.ErrExists):
		return &cliError{class: classConflict, msg: err.Error()}
	case errors.Is(err, tlsutil.ErrFiles), errors.Is(err, tlsutil.ErrNotCA):
		return &cliError{class: classInvalid, msg: err.Error()}
	}
	return err
}

func splitComma(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// validDNSName: labels of letters, digits and '-', joined by dots (a
// leading "*." for a wildcard).
func validDNSName(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
