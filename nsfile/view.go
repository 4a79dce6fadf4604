package nsfile

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// ErrUnknownStatus is returned by ParseStatus for a name it does not know.
var ErrUnknownStatus = errors.New("nsfile: unknown namespace status")

// View is a namespace as the CLI and the HTTP API show it (PRODUCT.md, "JSON
// shapes"): snake_case keys, lowercase enum values, secrets redacted.
type View struct {
	Name           string         `json:"name" yaml:"name"`
	Abstraction    string         `json:"abstraction" yaml:"abstraction"`
	Backend        string         `json:"backend" yaml:"backend"`
	Status         string         `json:"status" yaml:"status"`
	ShardID        string         `json:"shard_id" yaml:"shard_id"`
	Revision       int64          `json:"revision" yaml:"revision"`
	CreateRevision int64          `json:"create_revision" yaml:"create_revision"`
	Capacity       CapacityView   `json:"capacity" yaml:"capacity"`
	Policies       PoliciesView   `json:"policies" yaml:"policies"`
	Access         AccessView     `json:"access" yaml:"access"`
	BackendConfig  ConfigView     `json:"backend_config" yaml:"backend_config"`
	Placement      *PlacementView `json:"placement,omitempty" yaml:"placement,omitempty"`
	Move           *MoveView      `json:"move,omitempty" yaml:"move,omitempty"`
	Resources      []ResourceView `json:"resources" yaml:"resources"`
	StatusReason   string         `json:"status_reason" yaml:"status_reason"`
	CreatedAt      string         `json:"created_at,omitempty" yaml:"created_at,omitempty"`
	UpdatedAt      string         `json:"updated_at,omitempty" yaml:"updated_at,omitempty"`
	DeletedAt      string         `json:"deleted_at,omitempty" yaml:"deleted_at,omitempty"`
}

// CapacityView is the capacity section of a View.
type CapacityView struct {
	EstimatedReadRPS    int64   `json:"estimated_read_rps" yaml:"estimated_read_rps"`
	EstimatedWriteRPS   int64   `json:"estimated_write_rps" yaml:"estimated_write_rps"`
	EstimatedDataSizeGB float64 `json:"estimated_data_size_gb" yaml:"estimated_data_size_gb"`
}

// PoliciesView is the policies section of a View. RetentionDays is null
// when unset (keep forever); CacheTTLSeconds is left out when unset.
type PoliciesView struct {
	RetentionDays   *int64 `json:"retention_days" yaml:"retention_days"`
	Consistency     string `json:"consistency" yaml:"consistency"`
	CacheEnabled    bool   `json:"cache_enabled" yaml:"cache_enabled"`
	CacheTTLSeconds *int64 `json:"cache_ttl_seconds,omitempty" yaml:"cache_ttl_seconds,omitempty"`
	OnDelete        string `json:"on_delete" yaml:"on_delete"`
}

// ResourceView is one backend resource of a namespace (PRODUCT.md,
// "Backends and provisioning").
type ResourceView struct {
	Backend string `json:"backend" yaml:"backend"`
	Kind    string `json:"kind" yaml:"kind"`
	Name    string `json:"name" yaml:"name"`
	Target  string `json:"target" yaml:"target"`
	State   string `json:"state" yaml:"state"`
	Detail  string `json:"detail" yaml:"detail"`
}

// AccessView is the access section of a View; its lists are never null.
type AccessView struct {
	Owners    []OwnerView    `json:"owners" yaml:"owners"`
	Consumers []ConsumerView `json:"consumers" yaml:"consumers"`
}

// OwnerView is one owner: kind is team, user or service.
type OwnerView struct {
	Kind string `json:"kind" yaml:"kind"`
	Name string `json:"name" yaml:"name"`
}

// ConsumerView is one consumer: access is read-only or read-write.
type ConsumerView struct {
	Service string `json:"service" yaml:"service"`
	Access  string `json:"access" yaml:"access"`
}

// MoveView is an assignment in motion (ADR-009): phase shadow (shard_id
// still serves, `to` shadows) or cutover (`to` serves, `from` drains).
type MoveView struct {
	From  string `json:"from" yaml:"from"`
	To    string `json:"to" yaml:"to"`
	Phase string `json:"phase" yaml:"phase"`
}

// PlacementView is the optional placement section of a View.
type PlacementView struct {
	Isolation string            `json:"isolation,omitempty" yaml:"isolation,omitempty"`
	Labels    map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// ToView renders a stored namespace. A nil namespace gives an empty View.
func ToView(ns *fsmpb.Namespace) View {
	s := ns.GetSpec()
	v := View{
		Name:           s.GetName(),
		Abstraction:    s.GetAbstraction(),
		Backend:        s.GetBackend(),
		Status:         StatusString(ns.GetStatus()),
		ShardID:        ns.GetShardId(),
		Revision:       ns.GetRevision(),
		CreateRevision: ns.GetCreateRevision(),
		Capacity: CapacityView{
			EstimatedReadRPS:    s.GetCapacity().GetEstimatedReadRps(),
			EstimatedWriteRPS:   s.GetCapacity().GetEstimatedWriteRps(),
			EstimatedDataSizeGB: s.GetCapacity().GetEstimatedDataSizeGb(),
		},
		Access:        AccessView{Owners: []OwnerView{}, Consumers: []ConsumerView{}},
		Policies:      PoliciesView{OnDelete: "delete"},
		Resources:     []ResourceView{},
		BackendConfig: redactedConfig(s.GetBackendConfigJson()),
		StatusReason:  ns.GetStatusReason(),
		CreatedAt:     timestamp(ns.GetCreatedUnixNano()),
		UpdatedAt:     timestamp(ns.GetUpdatedUnixNano()),
		DeletedAt:     timestamp(ns.GetDeletedUnixNano()),
	}
	if m := ns.GetMove(); m != nil {
		v.Move = &MoveView{From: m.From, To: m.To, Phase: "shadow"}
		if m.Phase == fsmpb.MovePhase_MOVE_PHASE_CUTOVER {
			v.Move.Phase = "cutover"
		}
	}
	if p := s.GetPolicies(); p != nil {
		v.Policies = PoliciesView{
			RetentionDays:   copyInt(p.RetentionDays),
			Consistency:     p.GetConsistency(),
			CacheEnabled:    p.GetCacheEnabled(),
			CacheTTLSeconds: copyInt(p.CacheTtlSeconds),
			OnDelete:        p.GetOnDelete(),
		}
		if v.Policies.OnDelete == "" {
			v.Policies.OnDelete = "delete"
		}
	}
	for _, r := range ns.GetResources() {
		v.Resources = append(v.Resources, ResourceView{Backend: r.Backend, Kind: r.Kind, Name: r.Name, Target: r.Target,
			State: strings.ToLower(strings.TrimPrefix(r.State.String(), "RESOURCE_STATE_")), Detail: r.Detail})
	}
	for _, o := range s.GetAccess().GetOwners() {
		v.Access.Owners = append(v.Access.Owners, OwnerView{Kind: o.GetKind(), Name: o.GetName()})
	}
	for _, c := range s.GetAccess().GetConsumers() {
		v.Access.Consumers = append(v.Access.Consumers, ConsumerView{Service: c.GetService(), Access: c.GetAccess()})
	}
	if pl := s.GetPlacement(); pl.GetIsolation() != "" || len(pl.GetLabels()) > 0 {
		v.Placement = &PlacementView{Isolation: pl.GetIsolation()}
		if len(pl.GetLabels()) > 0 {
			v.Placement.Labels = make(map[string]string, len(pl.GetLabels()))
			for k, val := range pl.GetLabels() {
				v.Placement.Labels[k] = val
			}
		}
	}
	return v
}

func copyInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func timestamp(unixNano int64) string {
	if unixNano == 0 {
		return ""
	}
	return time.Unix(0, unixNano).UTC().Format(time.RFC3339Nano)
}

const statusPrefix = "NAMESPACE_STATUS_"

// StatusString is the lowercase name of a status ("active"); "" for
// unspecified, and "status(N)" for a value this build does not know.
func StatusString(st fsmpb.NamespaceStatus) string {
	if st == fsmpb.NamespaceStatus_NAMESPACE_STATUS_UNSPECIFIED {
		return ""
	}
	name, ok := fsmpb.NamespaceStatus_name[int32(st)]
	if !ok {
		return fmt.Sprintf("status(%d)", int32(st))
	}
	return strings.ToLower(strings.TrimPrefix(name, statusPrefix))
}

// ParseStatus is the inverse of StatusString, case-insensitive
// ("active", "ACTIVE" or "NAMESPACE_STATUS_ACTIVE"). Unspecified is not a
// status one can ask for, so "" is an error.
func ParseStatus(s string) (fsmpb.NamespaceStatus, error) {
	key := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(key, statusPrefix) {
		key = statusPrefix + key
	}
	if v, ok := fsmpb.NamespaceStatus_value[key]; ok && v != 0 {
		return fsmpb.NamespaceStatus(v), nil
	}
	return 0, fmt.Errorf("%w %q: want one of %s", ErrUnknownStatus, s, strings.Join(StatusNames(), ", "))
}

// StatusNames lists the statuses a namespace can have, in lifecycle order.
func StatusNames() []string {
	out := make([]string, 0, len(fsmpb.NamespaceStatus_name))
	for i := int32(1); ; i++ {
		if _, ok := fsmpb.NamespaceStatus_name[i]; !ok {
			return out
		}
		out = append(out, StatusString(fsmpb.NamespaceStatus(i)))
	}
}

// configMap decodes stored backend_config; stored bytes were validated, so
// a decoding error can only mean corruption, shown as an empty mapping.
// redactedConfig is the config of raw JSON b with secrets redacted; the
// redaction (regexps) is skipped when b cannot hold a secret.
func redactedConfig(b []byte) map[string]any {
	m := configMap(b)
	if m != nil && !MayHoldSecrets(b) {
		return m
	}
	return RedactConfig(m)
}

func configMap(b []byte) map[string]any {
	m, err := fsm.ConfigMap(b)
	if err != nil {
		return nil
	}
	return m
}

// ShardStateString is a shard state as the JSON names it (up, suspect,
// down, draining; "" for unspecified).
func ShardStateString(st fsmpb.ShardState) string {
	if st == fsmpb.ShardState_SHARD_STATE_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(st.String(), "SHARD_STATE_"))
}
