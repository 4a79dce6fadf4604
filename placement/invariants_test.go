package placement

import (
	"fmt"
	"slices"
	"testing"
)

// check verifies the State's indexes against a recomputation from scratch.
func (s *State) check() error {
	for b := range s.backends {
		br := &s.backends[b]
		var capSum, loadSum Load
		var open [dims][]int32
		var empty []int32
		for i := range s.shards {
			sh := &s.shards[i]
			if !sh.serves(int32(b)) {
				continue
			}
			if sh.inSums() {
				capSum, loadSum = capSum.add(sh.capa), loadSum.add(sh.load)
			}
			if sh.isOpen() {
				g := worstDim(sh.load, sh.capa)
				open[g] = append(open[g], int32(i))
			}
			if sh.isEmpty() {
				empty = append(empty, int32(i))
			}
		}
		for g := range open {
			slices.SortFunc(open[g], func(x, y int32) int {
				if s.less(x, y) {
					return -1
				}
				return 1
			})
			if !slices.Equal(open[g], br.open[g]) {
				return fmt.Errorf("backend %s open[%d] = %v, want %v", br.name, g, br.open[g], open[g])
			}
		}
		if !slices.Equal(empty, br.empty) {
			return fmt.Errorf("backend %s empty = %v, want %v", br.name, br.empty, empty)
		}
		if capSum != br.capSum || loadSum != br.loadSum {
			return fmt.Errorf("backend %s sums %v/%v, want %v/%v", br.name, br.capSum, br.loadSum, capSum, loadSum)
		}
		if br.pending != (Load{}) {
			return fmt.Errorf("backend %s pending %v", br.name, br.pending)
		}
	}
	for i := range s.shards {
		sh := &s.shards[i]
		var load Load
		own := int32(0)
		for _, idx := range sh.members {
			load = load.add(s.nss.at(idx).dem)
			if s.nss.at(idx).class != cShared {
				own++
			}
		}
		if load != sh.load || int32(len(sh.members)) != sh.count || own != sh.ownCount || sh.worst != worstPPM(sh.load, sh.capa) {
			return fmt.Errorf("shard %s accounting off", sh.id)
		}
	}
	return nil
}

func TestStateIndexesStayConsistent(t *testing.T) {
	cfg := DefaultConfig()
	in := genInput(13, 40, 2000, 600)
	for i := range in.Shards {
		if i%3 == 0 {
			in.Shards[i].Backends = []string{"postgres"}
		}
	}
	in.Namespaces = append(in.Namespaces, Namespace{Name: "big", Backend: "kafka", Demand: Load{40000, 1, 1}})
	st := newState(cfg, in)
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	st.step()
	st.plan()
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if _, err := st.PlaceOne(Namespace{Name: fmt.Sprintf("x%03d", i), Backend: "kafka", Demand: Load{int64(10 + i*7), int64(300 - i), int64(i * 100)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RemoveShards("s0001", "s0005", "s0017"); err != nil {
		t.Fatal(err)
	}
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	st.rebalance(50)
	st.plan()
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RemoveShards("nope"); !errorsIs(err, ErrUnknownShard) {
		t.Fatalf("err = %v", err)
	}
}
