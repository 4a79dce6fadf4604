package fsm

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// handler applies one command body to the state. It runs with the state
// lock held, must be deterministic, and reports business errors in Result.
type handler func(s *state, cmd *fsmpb.Command) Result

// handlers maps a oneof field name of fsmpb.Command to its handler.
var handlers = map[string]handler{}

// register adds a handler; registering a body twice is a programming error.
func register(body string, h handler) {
	if _, dup := handlers[body]; dup {
		panic(fmt.Sprintf("fsm: duplicate handler for %q", body))
	}
	if bodyOneof.Fields().ByName(protoreflect.Name(body)) == nil {
		panic(fmt.Sprintf("fsm: %q is not a body of fsmpb.Command", body))
	}
	handlers[body] = h
}

var bodyOneof = (&fsmpb.Command{}).ProtoReflect().Descriptor().Oneofs().ByName("body")

// BodyName is the oneof field name set in cmd, or "" when none is known
// to this binary (a newer command type decodes as an unknown field).
func BodyName(cmd *fsmpb.Command) string {
	fd := cmd.ProtoReflect().WhichOneof(bodyOneof)
	if fd == nil {
		return ""
	}
	return string(fd.Name())
}

func init() {
	register("noop", applyNoop)
	register("apply_namespace", applyNamespace)
	register("delete_namespace", deleteNamespace)
	register("set_namespace_status", setNamespaceStatus)
	register("purge_namespace", purgeNamespace)
	register("set_cluster_id", setClusterID)
}

// applyNoop raises the revision to a floor (no proposer sets one today;
// the field stays so old logs replay). A floor past MaxRevision is
// ignored, so the revision can never overflow.
func applyNoop(s *state, cmd *fsmpb.Command) Result {
	if floor := cmd.GetNoop().GetRevisionFloor(); floor > s.revision && floor <= MaxRevision {
		s.revision = floor
		return Result{Revision: s.revision}
	}
	return Result{Revision: s.revision, Unchanged: true}
}

// setClusterID keeps the first id committed. It is cluster metadata, not a
// change watchers see, so it does not bump the revision.
func setClusterID(s *state, cmd *fsmpb.Command) Result {
	if s.clusterID == "" {
		s.clusterID = cmd.GetSetClusterId().GetClusterId()
		return Result{Revision: s.revision}
	}
	return Result{Revision: s.revision, Unchanged: true}
}
