package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/provision/plan"
)

const (
	stProvisioning = fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING
	stActive       = fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE
	stDegraded     = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DEGRADED
	stDeleting     = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING
	stDeleted      = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED

	rsPending  = fsmpb.ResourceState_RESOURCE_STATE_PENDING
	rsReady    = fsmpb.ResourceState_RESOURCE_STATE_READY
	rsMissing  = fsmpb.ResourceState_RESOURCE_STATE_MISSING
	rsReleased = fsmpb.ResourceState_RESOURCE_STATE_RELEASED
	rsDeleted  = fsmpb.ResourceState_RESOURCE_STATE_DELETED
)

// resourcePrefix starts the status reason of a namespace the lifecycle
// controller degraded (a resource missing or unreachable); the placement
// controller's degraded reasons never start with it.
const resourcePrefix = "resource "

func isResourceReason(r string) bool { return strings.HasPrefix(r, resourcePrefix) }

// work does one step on one namespace and records its outcome.
func (l *Lifecycle) work(ctx context.Context, ns *fsmpb.Namespace) {
	var err error
	switch ns.Status {
	case stProvisioning, stActive, stDegraded:
		err = l.provision(ctx, ns)
	case stDeleting:
		err = l.deprovision(ctx, ns)
	case stDeleted:
		err = l.apply(ctx, &fsmpb.Command{Body: &fsmpb.Command_PurgeNamespace{PurgeNamespace: &fsmpb.PurgeNamespace{Name: ns.Spec.GetName(), IfRevision: ns.Revision}}})
	}
	if err != nil && !errors.Is(err, ErrStale) && ctx.Err() == nil {
		// Warn once per kind of failure (as it is committed), then quietly.
		level := slog.LevelDebug
		if l.loggedNew(ns.Spec.GetName(), provision.Kind(err)) {
			level = slog.LevelWarn
		}
		l.deps.Log.Log(ctx, level, "lifecycle step failed", "namespace", ns.Spec.GetName(), "status", ns.Status, "err", err)
	}
	l.done(ns, err != nil, err != nil && !provision.Retriable(err))
}

// record commits the controller's view of ns, fenced by its incarnation
// and spec. A fence that no longer holds is ErrStale.
func (l *Lifecycle) record(ctx context.Context, ns *fsmpb.Namespace, rs []*fsmpb.Resource, st fsmpb.NamespaceStatus, reason string, ack bool) error {
	body := &fsmpb.SetNamespaceResources{Name: ns.Spec.GetName(), CreateRevision: ns.CreateRevision, SpecRevision: fsm.SpecRevision(ns),
		Resources: rs, Status: st, Reason: fsm.TruncateReason(reason)}
	if ack {
		body.AckReconcile = ns.Reconcile.GetRevision()
	}
	return l.apply(ctx, &fsmpb.Command{Body: &fsmpb.Command_SetNamespaceResources{SetNamespaceResources: body}})
}

func (l *Lifecycle) apply(ctx context.Context, cmd *fsmpb.Command) error {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := l.deps.Applier.Apply(actx, cmd)
	if err == nil {
		err = res.Err
	}
	// A guard that no longer holds, a namespace gone, or a transition the
	// namespace's new status forbids (deleted meanwhile): all mean the
	// namespace changed under the controller.
	if errors.Is(err, fsm.ErrRevisionMismatch) || errors.Is(err, fsm.ErrNotFound) || errors.Is(err, fsm.ErrFailedPrecondition) {
		return fmt.Errorf("%w: %w", ErrStale, err)
	}
	return err
}

func cloneResources(rs []*fsmpb.Resource) []*fsmpb.Resource {
	out := make([]*fsmpb.Resource, len(rs))
	for i, r := range rs {
		out[i] = proto.Clone(r).(*fsmpb.Resource)
	}
	return out
}

func find(rs []*fsmpb.Resource, kind string) *fsmpb.Resource {
	for _, r := range rs {
		if r.Kind == kind {
			return r
		}
	}
	return nil
}

func (l *Lifecycle) request(ns *fsmpb.Namespace, r plan.Resource, target string, owned bool) provision.Request {
	return provision.Request{ClusterID: l.deps.State.ClusterID(), Namespace: ns.Spec.GetName(), CreateRevision: ns.CreateRevision,
		Resource: r, Target: target, Owned: owned}
}

// call runs one backend call with the step timeout and records it.
func (l *Lifecycle) call(ctx context.Context, ns *fsmpb.Namespace, backend, step string, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, l.cfg.StepTimeout)
	start := time.Now()
	err := f(cctx)
	cancel()
	l.deps.Metrics.operation(backend, step, err, time.Since(start))
	if h := l.deps.Hooks; h != nil && h.AfterBackend != nil && h.AfterBackend(ns.Spec.GetName(), step) {
		return errDied
	}
	return err
}

// provision brings a live namespace's resources to its plan: it records an
// intent before creating anything, creates or updates, observes active
// namespaces for drift, and sets the status from what it found.
func (l *Lifecycle) provision(ctx context.Context, ns *fsmpb.Namespace) error {
	name := ns.Spec.GetName()
	if l.cfg.Disabled {
		if ns.Status != stProvisioning || l.deps.AwaitsPlacement(ns) {
			return nil
		}
		return l.record(ctx, ns, ns.Resources, stActive, "active: provisioning is disabled on this cluster (prismd --provisioning=false); no backend resources were created", false)
	}
	p := plan.For(ns.Spec)
	if len(p.Resources) == 0 {
		return l.failed(ctx, ns, ns.Resources, "provisioning", fmt.Errorf("%w %q (Prism provisions postgres and kafka)", provision.ErrNoProvisioner, ns.Spec.GetBackend()))
	}
	rs := cloneResources(ns.Resources)
	recreate := ns.Reconcile.GetRecreate()
	for _, r := range p.Resources {
		rec := find(rs, r.Kind)
		prov := l.deps.Provisioners[r.Backend]
		if prov == nil {
			return l.failed(ctx, ns, rs, "provisioning", fmt.Errorf("%w %q on this node", provision.ErrNoProvisioner, r.Backend))
		}
		if rec == nil || !fsm.Held(rec) {
			target, err := l.deps.Targets.Resolve(r)
			if err != nil {
				return l.failed(ctx, ns, rs, "provisioning", err)
			}
			// Look before recording an intent: what exists before Prism
			// meant to create it is never taken for Prism's.
			var obs provision.Observation
			err = l.call(ctx, ns, r.Backend, "observe", func(c context.Context) (e error) { obs, e = prov.Observe(c, l.request(ns, r, target, false)); return })
			if err != nil {
				return l.failed(ctx, ns, rs, "checking "+r.Kind+" "+r.Name(), err)
			}
			if obs.Exists && obs.Owner != provision.OwnerThis {
				who := obs.OwnerDetail
				if who == "" {
					who = "it was not created by Prism"
				}
				return l.failed(ctx, ns, rs, "provisioning", fmt.Errorf("%w: %s %s on %s already exists (%s); Prism neither adopts nor drops it: drop or rename it, or give the namespace another %s, then `prismctl namespace reconcile %s`",
					provision.ErrForeign, r.Kind, r.Name(), target, who, r.NameField(), name))
			}
			rec = &fsmpb.Resource{Backend: r.Backend, Kind: r.Kind, Name: r.Name(), Target: target, State: rsPending, Detail: "creating"}
			if i := indexOf(rs, r.Kind); i >= 0 {
				rs[i] = rec
			} else {
				rs = append(rs, rec)
			}
			if err := l.record(ctx, ns, rs, 0, "", false); err != nil {
				return err
			}
		}
		if err := l.bring(ctx, ns, prov, r, rec, recreate); err != nil {
			return l.failed(ctx, ns, rs, stepOf(rec, r), err)
		}
	}
	return l.settle(ctx, ns, rs)
}

func indexOf(rs []*fsmpb.Resource, kind string) int {
	for i, r := range rs {
		if r.Kind == kind {
			return i
		}
	}
	return -1
}

func stepOf(rec *fsmpb.Resource, r plan.Resource) string {
	switch {
	case rec.State == rsPending:
		return "creating " + r.Kind + " " + r.Name()
	case rec.PlanHash != r.Hash():
		return "updating " + r.Kind + " " + r.Name()
	}
	return "observing " + r.Kind + " " + r.Name()
}

// bring moves one recorded resource on, in place: a pending one is
// created, a ready one whose plan changed is updated, a ready one is
// observed (drift), a missing one is observed or, on request, created
// again.
func (l *Lifecycle) bring(ctx context.Context, ns *fsmpb.Namespace, prov provision.Provisioner, r plan.Resource, rec *fsmpb.Resource, recreate bool) error {
	req := l.request(ns, r, rec.Target, true)
	ensure := rec.State == rsPending || rec.PlanHash != r.Hash() || (rec.State == rsMissing && recreate)
	var obs provision.Observation
	var err error
	if ensure {
		err = l.call(ctx, ns, r.Backend, "ensure", func(c context.Context) (e error) { obs, e = prov.Ensure(c, req); return })
	} else {
		err = l.call(ctx, ns, r.Backend, "observe", func(c context.Context) (e error) { obs, e = prov.Observe(c, req); return })
	}
	if err != nil {
		return err
	}
	switch {
	case obs.Exists && obs.Owner != provision.OwnerOther:
		rec.State, rec.Detail, rec.PlanHash = rsReady, obs.Detail, r.Hash()
		rec.Partitions, rec.ReplicationFactor = obs.Partitions, obs.ReplicationFactor
	case obs.Exists:
		rec.State = rsMissing
		rec.Detail = "replaced outside Prism by one it did not create (" + obs.OwnerDetail + ")"
	default:
		rec.State = rsMissing
		rec.Detail = "removed outside Prism; `prismctl namespace reconcile " + ns.Spec.GetName() + " --recreate` creates it again, empty"
	}
	return nil
}

// settle commits the resources and the status they add up to.
func (l *Lifecycle) settle(ctx context.Context, ns *fsmpb.Namespace, rs []*fsmpb.Resource) error {
	var missing, names []string
	for _, r := range rs {
		names = append(names, r.Kind+" "+r.Name+" on "+r.Target)
		if r.State == rsMissing {
			missing = append(missing, r.Kind+" "+r.Name+" on "+r.Target+": "+r.Detail)
		}
	}
	st, reason := ns.Status, ns.StatusReason
	switch {
	case len(missing) > 0 && ns.Status != stProvisioning:
		st, reason = stDegraded, resourcePrefix+"missing: "+strings.Join(missing, "; ")
	case len(missing) > 0:
		reason = "provisioning: " + strings.Join(missing, "; ")
	case ns.Status == stProvisioning && l.deps.AwaitsPlacement(ns):
		// Placement first: it activates once placed.
	case ns.Status == stProvisioning || ns.Status == stActive || isResourceReason(ns.StatusReason):
		st, reason = stActive, "provisioned: "+strings.Join(names, "; ")
	}
	l.setKind(ns.Spec.GetName(), "")
	return l.record(ctx, ns, rs, st, reason, ns.Reconcile != nil)
}

// failed records a failure: the status and reason change only when the
// status or the kind of failure does (a new error text alone is not a new
// commit). A provisioning namespace stays provisioning; an active one
// whose server is unreachable or whose resource was replaced is degraded.
// It returns err, so the caller's backoff follows it.
func (l *Lifecycle) failed(ctx context.Context, ns *fsmpb.Namespace, rs []*fsmpb.Resource, step string, err error) error {
	if errors.Is(err, ErrStale) || errors.Is(err, errDied) {
		return err
	}
	kind := provision.Kind(err)
	st := ns.Status
	var reason string
	next := "retrying with backoff (up to " + l.cfg.BackoffMax.String() + ")"
	if !provision.Retriable(err) {
		next = "waiting for a new spec or `prismctl namespace reconcile " + ns.Spec.GetName() + "`"
	}
	switch {
	case ns.Status == stProvisioning:
		reason = "provisioning: " + step + ": " + err.Error() + "; " + next
	case errors.Is(err, provision.ErrUnreachable) || errors.Is(err, provision.ErrForeign) || errors.Is(err, provision.ErrTargetUnknown):
		st, reason = stDegraded, resourcePrefix+step+": "+err.Error()+"; "+next
	default:
		reason = "active; " + step + " failed: " + err.Error() + "; " + next
	}
	if st == ns.Status && kind == l.lastKind(ns.Spec.GetName()) && sameStates(rs, ns.Resources) {
		return err
	}
	if rerr := l.record(ctx, ns, rs, st, reason, false); rerr != nil {
		return errors.Join(err, rerr)
	}
	l.setKind(ns.Spec.GetName(), kind)
	return err
}

func sameStates(a, b []*fsmpb.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].State != b[i].State || a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// deprovision removes (on_delete: delete) or releases (retain) every
// resource recorded as the namespace's, then marks it deleted. Only
// recorded resources are touched, never one found by name alone.
func (l *Lifecycle) deprovision(ctx context.Context, ns *fsmpb.Namespace) error {
	rs := cloneResources(ns.Resources)
	retain := ns.Spec.GetPolicies().GetOnDelete() == "retain"
	planned := plan.For(ns.Spec).Resources
	for _, rec := range rs {
		if !fsm.Held(rec) {
			continue
		}
		prov := l.deps.Provisioners[rec.Backend]
		if prov == nil {
			return l.failedDelete(ctx, ns, rs, fmt.Errorf("%w %q on this node", provision.ErrNoProvisioner, rec.Backend))
		}
		r, ok := plannedFor(planned, rec)
		if !ok {
			return l.failedDelete(ctx, ns, rs, fmt.Errorf("%w: recorded %s %s is not the spec's", provision.ErrInvalid, rec.Kind, rec.Name))
		}
		req := l.request(ns, r, rec.Target, true)
		if retain {
			if err := l.call(ctx, ns, rec.Backend, "release", func(c context.Context) error { return prov.Release(c, req) }); err != nil {
				return l.failedDelete(ctx, ns, rs, err)
			}
			rec.State, rec.Detail = rsReleased, "left in place (on_delete: retain); no longer managed by Prism"
			continue
		}
		if err := l.deps.Applier.VerifyLeader(ctx); err != nil {
			return err
		}
		err := l.call(ctx, ns, rec.Backend, "delete", func(c context.Context) error { return prov.Delete(c, req) })
		if errors.Is(err, provision.ErrForeign) {
			rec.State, rec.Detail = rsReleased, "not deleted: "+err.Error()
			continue
		}
		if err != nil {
			return l.failedDelete(ctx, ns, rs, err)
		}
		if err := l.awaitGone(ctx, ns, prov, req); err != nil {
			return l.failedDelete(ctx, ns, rs, err)
		}
		rec.State, rec.Detail = rsDeleted, "deleted"
	}
	var done []string
	for _, r := range rs {
		done = append(done, r.Kind+" "+r.Name+" "+strings.ToLower(strings.TrimPrefix(r.State.String(), "RESOURCE_STATE_")))
	}
	reason := "deleted"
	if len(done) > 0 {
		reason += ": " + strings.Join(done, "; ")
	}
	return l.record(ctx, ns, rs, stDeleted, reason, false)
}

func plannedFor(planned []plan.Resource, rec *fsmpb.Resource) (plan.Resource, bool) {
	for _, r := range planned {
		if r.Kind == rec.Kind && r.Name() == rec.Name {
			return r, true
		}
	}
	return plan.Resource{}, false
}

// awaitGone polls until a deleted resource no longer exists (Kafka deletes
// asynchronously), for at most DeleteWait.
func (l *Lifecycle) awaitGone(ctx context.Context, ns *fsmpb.Namespace, prov provision.Provisioner, req provision.Request) error {
	deadline := time.Now().Add(l.cfg.DeleteWait)
	for {
		var obs provision.Observation
		err := l.call(ctx, ns, req.Resource.Backend, "observe", func(c context.Context) (e error) { obs, e = prov.Observe(c, req); return })
		if err != nil {
			return err
		}
		if !obs.Exists {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s %s is still being deleted by the backend", provision.ErrTransient, req.Resource.Kind, req.Resource.Name())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// failedDelete records a deletion's failure (the namespace stays deleting,
// saying why) once per kind of failure.
func (l *Lifecycle) failedDelete(ctx context.Context, ns *fsmpb.Namespace, rs []*fsmpb.Resource, err error) error {
	if errors.Is(err, errDied) {
		return err
	}
	kind := provision.Kind(err)
	if kind == l.lastKind(ns.Spec.GetName()) && sameStates(rs, ns.Resources) {
		return err
	}
	reason := "deleting: " + err.Error() + "; retrying with backoff (up to " + l.cfg.BackoffMax.String() + ")"
	if rerr := l.record(ctx, ns, rs, stDeleting, reason, false); rerr != nil {
		return errors.Join(err, rerr)
	}
	l.setKind(ns.Spec.GetName(), kind)
	return err
}
