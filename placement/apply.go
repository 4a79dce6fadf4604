package placement

// Apply returns a copy of in with the plan carried out as if every move had
// completed: assigned and moved namespaces get CurrentShard = Shard, moved
// ones are marked MovedRecently and lose their Moving. The caller's real
// moves go through ADR-009's phases; Apply is for simulation and tests.
func Apply(in Input, p Plan) Input {
	byName := make(map[string]*Decision, len(p.Decisions))
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if d.Kind == KindAssign || d.Kind == KindMove {
			byName[d.Namespace] = d
		}
	}
	out := Input{Shards: in.Shards, Namespaces: make([]Namespace, len(in.Namespaces))}
	copy(out.Namespaces, in.Namespaces)
	for i := range out.Namespaces {
		ns := &out.Namespaces[i]
		if d, ok := byName[ns.Name]; ok {
			ns.CurrentShard = d.Shard
			if d.Kind == KindMove {
				ns.MovedRecently = true
				ns.Moving = nil
			}
		}
	}
	return out
}
