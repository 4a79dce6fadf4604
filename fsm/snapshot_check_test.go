package fsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func TestRestoreRejectsBadRecords(t *testing.T) {
	hdr := func(rev int64) *fsmpb.SnapshotHeader {
		return &fsmpb.SnapshotHeader{Version: snapshotVersion, Index: 9, Revision: rev}
	}
	ns := func(name string, rev int64) *fsmpb.Namespace {
		return &fsmpb.Namespace{Spec: spec(name), Status: statusActive, Revision: rev, CreateRevision: rev}
	}
	shard := &fsmpb.Shard{Spec: &fsmpb.ShardSpec{Id: "s1"}, State: shardUp, Revision: 1}
	cases := map[string]frozen{
		"duplicate namespace":    {header: hdr(5), namespaces: []*fsmpb.Namespace{ns("a", 1), ns("a", 2)}},
		"namespace without spec": {header: hdr(5), namespaces: []*fsmpb.Namespace{{Status: statusActive, Revision: 1}}},
		"namespace without name": {header: hdr(5), namespaces: []*fsmpb.Namespace{ns("", 1)}},
		"unknown status":         {header: hdr(5), namespaces: []*fsmpb.Namespace{{Spec: spec("a"), Status: 99, Revision: 1}}},
		"namespace past header":  {header: hdr(5), namespaces: []*fsmpb.Namespace{ns("a", 6)}},
		"duplicate shard":        {header: hdr(5), shards: []*fsmpb.Shard{shard, shard}},
		"shard without spec":     {header: hdr(5), shards: []*fsmpb.Shard{{State: shardUp}}},
		"revision too large":     {header: hdr(MaxRevision + 1)},
		"negative revision":      {header: hdr(-1)},
		"duplicate request":      {header: hdr(5), requests: []*fsmpb.RequestRecord{{Id: "r"}, {Id: "r"}}},
		"empty request id":       {header: hdr(5), requests: []*fsmpb.RequestRecord{{Id: ""}}},
	}
	for name, fz := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := (&Snapshot{fz: fz}).WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			err := New().Restore(bytes.NewReader(buf.Bytes()))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore = %v, want ErrBadSnapshot", err)
			}
		})
	}
	var buf bytes.Buffer
	good := frozen{header: hdr(5), namespaces: []*fsmpb.Namespace{ns("a", 1), ns("b", 5)}, shards: []*fsmpb.Shard{shard}}
	if _, err := (&Snapshot{fz: good}).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := New().Restore(&buf); err != nil {
		t.Fatalf("a good snapshot: %v", err)
	}
}
