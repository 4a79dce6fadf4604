package archive

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/nsfile"
)

// Op and Kind values, as the changes table stores them.
const (
	OpPut    = "put"
	OpDelete = "delete"
	OpNone   = "none" // a revision with no object (none is proposed today)

	KindNamespace = "namespace"
	KindShard     = "shard"
)

// Change is one committed revision. Exactly one of Namespace and Shard is
// set for a put or delete (the object after the change; a delete carries
// the last version); neither for OpNone. The objects are the FSM's
// immutable records: never modify them.
type Change struct {
	Revision  int64
	UnixNano  int64  // the time the leader stamped into the command
	Command   string // the command's body name ("apply_namespace", ...)
	Kind      string
	Name      string
	Op        string
	Principal string // who made it (kind/name; "" for the leader's own controllers)
	Namespace *fsmpb.Namespace
	Shard     *fsmpb.Shard
}

// ChangeOf is the change a result committed.
func ChangeOf(r fsm.Result) Change {
	c := Change{Revision: r.Revision, UnixNano: r.UnixNano, Command: r.Command, Op: OpNone, Principal: r.Principal}
	op := OpPut
	if r.Deleted {
		op = OpDelete
	}
	switch {
	case r.Namespace != nil:
		c.Kind, c.Name, c.Op, c.Namespace = KindNamespace, r.Namespace.Spec.GetName(), op, r.Namespace
	case r.Shard != nil:
		c.Kind, c.Name, c.Op, c.Shard = KindShard, r.Shard.Spec.GetId(), op, r.Shard
	}
	return withInjectedBug(c) // the identity unless built with -tags prism_archive_bug
}

// Payload is the object's protobuf encoding (deterministic), with secrets
// redacted from a namespace's backend_config; nil for OpNone.
func (c Change) Payload() ([]byte, error) {
	opts := proto.MarshalOptions{Deterministic: true}
	switch {
	case c.Namespace != nil:
		return opts.Marshal(Redact(c.Namespace))
	case c.Shard != nil:
		return opts.Marshal(c.Shard)
	}
	return nil, nil
}

// ObjectJSON is the object as the API's JSON shows it (a namespace as
// `namespace get -o json`, secrets redacted; a shard in protobuf JSON
// with field names); nil for OpNone.
func (c Change) ObjectJSON() ([]byte, error) {
	switch {
	case c.Namespace != nil:
		return json.Marshal(nsfile.ToView(c.Namespace))
	case c.Shard != nil:
		return shardJSON.Marshal(c.Shard)
	}
	return nil, nil
}

var shardJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}

// Redact is nsfile.RedactNamespace: a secret never enters the archive.
// Apply refuses passwords in connection strings, so this is a second line.
func Redact(ns *fsmpb.Namespace) *fsmpb.Namespace { return nsfile.RedactNamespace(ns) }

// DecodePayload is the inverse of Payload for a row of the given kind.
func DecodePayload(kind string, payload []byte) (*fsmpb.Namespace, *fsmpb.Shard, error) {
	switch kind {
	case KindNamespace:
		ns := &fsmpb.Namespace{}
		if err := proto.Unmarshal(payload, ns); err != nil {
			return nil, nil, fmt.Errorf("archive: namespace payload: %w", err)
		}
		return ns, nil, nil
	case KindShard:
		sh := &fsmpb.Shard{}
		if err := proto.Unmarshal(payload, sh); err != nil {
			return nil, nil, fmt.Errorf("archive: shard payload: %w", err)
		}
		return nil, sh, nil
	}
	return nil, nil, fmt.Errorf("archive: unknown kind %q", kind)
}
