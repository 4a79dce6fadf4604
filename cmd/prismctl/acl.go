package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// tokenView is the JSON shape of a token (PRODUCT.md, Security). Token,
// the secret, is there only when the token was just made.
type tokenView struct {
	ID          string `json:"id" yaml:"id"`
	Token       string `json:"token,omitempty" yaml:"token,omitempty"`
	Kind        string `json:"kind" yaml:"kind"`
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`
	Created     string `json:"created" yaml:"created"`                     // RFC 3339
	Expires     string `json:"expires,omitempty" yaml:"expires,omitempty"` // RFC 3339; absent: never
	CreatedBy   string `json:"created_by" yaml:"created_by"`
}

func toTokenView(t *rpcpb.TokenInfo) tokenView {
	return tokenView{ID: t.GetId(), Kind: t.GetKind(), Name: t.GetName(), Description: t.GetDescription(),
		Created: rfc3339(t.GetCreatedUnixNano()), Expires: rfc3339(t.GetExpiresUnixNano()), CreatedBy: t.GetCreatedBy()}
}

// whoAmIView is the JSON shape of acl whoami.
type whoAmIView struct {
	Principal  string `json:"principal" yaml:"principal"`
	Kind       string `json:"kind" yaml:"kind"`
	Name       string `json:"name" yaml:"name"`
	Via        string `json:"via" yaml:"via"` // token, certificate or none
	TokenID    string `json:"token_id" yaml:"token_id"`
	Expires    string `json:"expires,omitempty" yaml:"expires,omitempty"`
	ACLEnabled bool   `json:"acl_enabled" yaml:"acl_enabled"`
	Node       string `json:"node" yaml:"node"`
}

// rfc3339 formats Unix nanoseconds in UTC; "" for 0.
func rfc3339(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}

func orNever(s string) string {
	if s == "" {
		return "never"
	}
	return s
}

// roles are the role tokens' names.
var roles = []string{"admin", "operator", "viewer"}

func aclCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "acl", Short: "ACL tokens: bootstrap the first, create, list and revoke them; show who calls act as"}
	bootstrap := &cobra.Command{
		Use:   "bootstrap",
		Short: "Mint the cluster's first management token (role admin); works once in a cluster's life",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.AclBootstrap(ctx)
				if err != nil {
					return aclError(err, "bootstrap")
				}
				return g.printSecret(r)
			})
		},
	}
	token := &cobra.Command{Use: "token", Aliases: []string{"tokens"}, Short: "Create, list and revoke tokens"}
	token.AddCommand(tokenCreateCmd(g),
		&cobra.Command{
			Use:   "list",
			Short: "List tokens (never their secrets)",
			Args:  cobra.NoArgs,
			RunE: func(_ *cobra.Command, _ []string) error {
				return g.withClient(func(ctx context.Context, cl *client.Client) error {
					ts, err := cl.ListTokens(ctx)
					if err != nil {
						return aclError(err, "")
					}
					out := make([]tokenView, 0, len(ts))
					for _, t := range ts {
						out = append(out, toTokenView(t))
					}
					return g.emit(out, func(w io.Writer) {
						fmt.Fprintln(w, "ID\tKIND\tNAME\tCREATED\tEXPIRES\tCREATED BY\tDESCRIPTION")
						for _, v := range out {
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Kind, v.Name, v.Created, orNever(v.Expires), orDash(v.CreatedBy), v.Description)
						}
					})
				})
			},
		},
		&cobra.Command{
			Use:   "revoke ID",
			Short: "Revoke a token by its id (acl token list shows them)",
			Args:  cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				id := args[0]
				if !isTokenID(id) {
					// Not echoed: it may be a secret pasted by mistake.
					return usageErr("acl token revoke: the argument is not a token id (32 lower-case hex characters, as acl token list shows); it is not repeated here in case it is a secret")
				}
				return g.withClient(func(ctx context.Context, cl *client.Client) error {
					if err := cl.RevokeToken(ctx, id); err != nil {
						return aclError(about("token", id, err), "")
					}
					out := struct {
						Revoked string `json:"revoked" yaml:"revoked"`
					}{id}
					return g.emit(out, func(w io.Writer) { fmt.Fprintf(w, "token %s revoked\n", id) })
				})
			},
		},
	)
	whoami := &cobra.Command{
		Use:   "whoami",
		Short: "The identity calls act as (token, certificate or none), according to the node that answers",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.WhoAmI(ctx)
				if err != nil {
					return aclError(err, "")
				}
				v := whoAmIView{Principal: r.Principal, Kind: r.Kind, Name: r.Name, Via: r.Via, TokenID: r.TokenId,
					Expires: rfc3339(r.ExpiresUnixNano), ACLEnabled: r.AclEnabled, Node: r.NodeId}
				return g.emit(v, func(w io.Writer) {
					fmt.Fprintf(w, "PRINCIPAL\t%s\n", orDash(v.Principal))
					fmt.Fprintf(w, "VIA\t%s\n", orDash(v.Via))
					if v.TokenID != "" {
						fmt.Fprintf(w, "TOKEN ID\t%s\n", v.TokenID)
						fmt.Fprintf(w, "EXPIRES\t%s\n", orNever(v.Expires))
					}
					fmt.Fprintf(w, "ACL ENABLED\t%t\n", v.ACLEnabled)
					fmt.Fprintf(w, "NODE\t%s\n", orDash(v.Node))
				})
			})
		},
	}
	c.AddCommand(bootstrap, token, whoami)
	return c
}

// subjectFlags are acl token create's subject flags, in the order errors
// name them, with the token kind each makes.
var subjectFlags = []struct{ flag, kind string }{
	{"role", "role"}, {"team", "team"}, {"service", "service"}, {"user", "user"}, {"shard", "shard"},
}

func tokenCreateCmd(g *globals) *cobra.Command {
	subjects := make([]string, len(subjectFlags))
	var ttl time.Duration
	var description string
	c := &cobra.Command{
		Use:   "create (--role admin|operator|viewer | --team T | --service S | --user U | --shard ID) [--ttl D] [--description TEXT]",
		Short: "Create a token; its secret is printed this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := createRequest(cmd, subjects, ttl, description)
			if err != nil {
				return err
			}
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.CreateToken(ctx, req)
				if err != nil {
					return aclError(err, "create")
				}
				return g.printSecret(r)
			})
		},
	}
	f := c.Flags()
	f.StringVar(&subjects[0], "role", "", "a role token: admin, operator or viewer")
	f.StringVar(&subjects[1], "team", "", "a token acting as team T")
	f.StringVar(&subjects[2], "service", "", "a token acting as service S")
	f.StringVar(&subjects[3], "user", "", "a token acting as user U")
	f.StringVar(&subjects[4], "shard", "", "a token for shard ID's agent (prism-shard --token)")
	f.DurationVar(&ttl, "ttl", 0, "lifetime, whole seconds (a Go duration: 24h, 720h, 90m); without it the token never expires")
	f.StringVar(&description, "description", "", "free text shown by acl token list")
	return c
}

// createRequest checks acl token create's flags: exactly one subject, a
// known role, a positive whole-second --ttl.
func createRequest(cmd *cobra.Command, subjects []string, ttl time.Duration, description string) (*rpcpb.CreateTokenRequest, error) {
	var given []string
	req := &rpcpb.CreateTokenRequest{Description: description}
	for i, s := range subjectFlags {
		if cmd.Flags().Changed(s.flag) {
			given = append(given, "--"+s.flag)
			req.Kind, req.Name = s.kind, strings.TrimSpace(subjects[i])
		}
	}
	switch {
	case len(given) == 0:
		return nil, usageErr("acl token create needs exactly one of --role, --team, --service, --user or --shard")
	case len(given) > 1:
		return nil, usageErr("acl token create takes exactly one of --role, --team, --service, --user or --shard, not %s", strings.Join(given, " and "))
	case req.Name == "":
		return nil, usageErr("%s needs a name", given[0])
	case req.Kind == "role" && !contains(roles, req.Name):
		return nil, usageErr("--role %q: want admin, operator or viewer", req.Name)
	}
	if cmd.Flags().Changed("ttl") {
		if ttl < time.Second || ttl%time.Second != 0 {
			return nil, usageErr("--ttl %s: want a positive whole number of seconds, such as 24h or 720h", ttl)
		}
		req.TtlSeconds = int64(ttl / time.Second)
	}
	return req, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isTokenID: 32 lower-case hex characters.
func isTokenID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// printSecret prints a token just made, with its secret (stdout only).
// The table prints the secret once, in the line that stores it.
func (g *globals) printSecret(r *rpcpb.TokenSecretResponse) error {
	v := toTokenView(r.GetToken())
	v.Token = r.GetSecret()
	return g.emit(v, func(w io.Writer) {
		fmt.Fprintf(w, "ID\t%s\n", v.ID)
		fmt.Fprintf(w, "KIND\t%s\n", v.Kind)
		fmt.Fprintf(w, "NAME\t%s\n", v.Name)
		if v.Description != "" {
			fmt.Fprintf(w, "DESCRIPTION\t%s\n", v.Description)
		}
		fmt.Fprintf(w, "CREATED\t%s\n", v.Created)
		fmt.Fprintf(w, "EXPIRES\t%s\n", orNever(v.Expires))
		fmt.Fprintf(w, "CREATED BY\t%s\n", orDash(v.CreatedBy))
		fmt.Fprintln(w, "")
		fmt.Fprintln(w, "The secret is shown only this once; store it now (the cluster keeps only its hash):")
		fmt.Fprintf(w, "export PRISM_TOKEN=%s\n", shellQuote(v.Token))
	})
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+/=:@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// aclError words the failures particular to ACL commands; mint is
// "bootstrap" or "create" for the commands that make a secret.
func aclError(err error, mint string) error {
	switch {
	case status.Code(err) == codes.Unimplemented:
		return &cliError{class: classError, msg: "the node does not serve ACL tokens (a prismd from before ACLs): upgrade it; " + status.Convert(err).Message()}
	case mint == "bootstrap" && status.Code(err) == codes.FailedPrecondition:
		e := explain(err)
		return &cliError{class: e.class, details: e.details,
			msg: "the cluster's ACLs are bootstrapped already (it works once): ask an admin for a token (prismctl acl token create); " + e.msg}
	case mint != "" && client.Reason(err) == rpcpb.ReasonUncertain:
		e := explain(err)
		msg := "a node failed while creating the token: it may exist, and its secret is lost; acl token list shows it (revoke a token nobody holds), then create another"
		if mint == "bootstrap" {
			msg = "a node failed while minting the bootstrap token: it may have been made, and its secret is lost; run acl bootstrap again: if it answers that bootstrap is done, the token was made"
		}
		return &cliError{class: e.class, details: e.details, msg: msg}
	}
	return err
}
