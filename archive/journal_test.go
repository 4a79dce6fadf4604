package archive

import (
	"bytes"
	"errors"
	"testing"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

func nsResult(rev int64, name string) fsm.Result {
	return fsm.Result{Revision: rev, UnixNano: rev * 10, Command: "apply_namespace",
		Namespace: &fsmpb.Namespace{Spec: &fsmpb.NamespaceSpec{Name: name}, Revision: rev}}
}

func TestJournalHoldsContiguousChanges(t *testing.T) {
	j := NewJournal(10, 0)
	j.Record(nsResult(1, "a"))
	j.Record(fsm.Result{Revision: 1})                  // no bump (cluster id)
	j.Record(fsm.Result{Revision: 1, Unchanged: true}) // a repeat
	j.Record(fsm.Result{Revision: 1, Err: fsm.ErrNotFound})
	j.Record(fsm.Result{Revision: 2, Shard: &fsmpb.Shard{Spec: &fsmpb.ShardSpec{Id: "s1"}}, Deleted: true, Command: "remove_shard", UnixNano: 20})
	got, err := j.Since(0, 100)
	if err != nil || len(got) != 2 {
		t.Fatalf("Since(0): %v, %d changes", err, len(got))
	}
	if c := got[0]; c.Kind != KindNamespace || c.Name != "a" || c.Op != OpPut || c.UnixNano != 10 || c.Command != "apply_namespace" {
		t.Fatalf("first change %+v", c)
	}
	if c := got[1]; c.Kind != KindShard || c.Name != "s1" || c.Op != OpDelete {
		t.Fatalf("second change %+v", c)
	}
	if got, _ := j.Since(2, 100); len(got) != 0 {
		t.Fatalf("Since(head) = %d changes", len(got))
	}
	if got, _ := j.Since(0, 1); len(got) != 1 || got[0].Revision != 1 {
		t.Fatalf("Since with limit 1: %+v", got)
	}
	if at, ok := j.CommittedAt(2); !ok || at != 20 {
		t.Fatalf("CommittedAt(2) = %d, %v", at, ok)
	}
}

func TestJournalTrimsAndSaysSo(t *testing.T) {
	j := NewJournal(8, 0)
	for r := int64(1); r <= 20; r++ {
		j.Record(nsResult(r, "a"))
	}
	base, head := j.Bounds()
	if head != 20 || head-base > 8 || base < 12 {
		t.Fatalf("bounds %d..%d", base, head)
	}
	var ce *CompactedError
	if _, err := j.Since(base-1, 10); !errors.As(err, &ce) || ce.Base != base || !errors.Is(err, ErrJournalCompacted) {
		t.Fatalf("Since(base-1): %v", err)
	}
	got, err := j.Since(base, 100)
	if err != nil || int64(len(got)) != head-base || got[0].Revision != base+1 {
		t.Fatalf("Since(base): %v %d", err, len(got))
	}
}

func TestJournalResetsOnASkip(t *testing.T) {
	j := NewJournal(10, 5)
	j.Record(nsResult(6, "a"))
	j.Record(fsm.Result{Revision: 100}) // a revision floor: 7..99 never existed
	if base, head := j.Bounds(); base != 100 || head != 100 {
		t.Fatalf("bounds after skip %d..%d", base, head)
	}
	if _, err := j.Since(6, 10); !errors.Is(err, ErrJournalCompacted) {
		t.Fatalf("Since(6) after skip: %v", err)
	}
	ch := j.Changed()
	j.Reset(200, "restored")
	select {
	case <-ch:
	default:
		t.Fatal("Reset did not wake waiters")
	}
	var ce *CompactedError
	if _, err := j.Since(100, 10); !errors.As(err, &ce) || ce.Reason != "restored" {
		t.Fatalf("Since after reset: %v", err)
	}
	j.Record(nsResult(201, "b"))
	if got, err := j.Since(200, 10); err != nil || len(got) != 1 {
		t.Fatalf("after reset: %v %d", err, len(got))
	}
}

func TestRedactKeepsNamespacesWithoutSecrets(t *testing.T) {
	plain := &fsmpb.Namespace{Spec: &fsmpb.NamespaceSpec{Name: "a", BackendConfigJson: []byte(`{"postgres":{"schema":"s"}}`)}}
	if Redact(plain) != plain {
		t.Fatal("a namespace without secrets was copied")
	}
	secret := &fsmpb.Namespace{Spec: &fsmpb.NamespaceSpec{Name: "a", BackendConfigJson: []byte(`{"redis":{"auth_token":"hunter2"}}`)}}
	red := Redact(secret)
	if red == secret || string(secret.Spec.BackendConfigJson) != `{"redis":{"auth_token":"hunter2"}}` {
		t.Fatal("Redact changed its input or returned it")
	}
	c := Change{Kind: KindNamespace, Op: OpPut, Namespace: secret}
	for _, enc := range []func() ([]byte, error){c.Payload, c.ObjectJSON} {
		b, err := enc()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("hunter2")) {
			t.Fatalf("secret in %s", b)
		}
	}
}

func TestJournalTrimKeepsWhatIsNotArchived(t *testing.T) {
	j := NewJournal(100, 0)
	for r := int64(1); r <= 10; r++ {
		j.Record(nsResult(r, "a"))
	}
	j.Trim(4)
	if base, head := j.Bounds(); base != 4 || head != 10 {
		t.Fatalf("bounds after Trim(4): %d..%d", base, head)
	}
	if got, err := j.Since(4, 100); err != nil || len(got) != 6 || got[0].Revision != 5 {
		t.Fatalf("Since(4): %v %+v", err, got)
	}
	if _, err := j.Since(3, 100); !errors.Is(err, ErrJournalCompacted) {
		t.Fatalf("Since(3) after trimming to 4: %v", err)
	}
	j.Trim(2)  // behind the base: nothing
	j.Trim(50) // past the head (a follower behind the archive): empty, recording goes on
	if base, head := j.Bounds(); base != 10 || head != 10 {
		t.Fatalf("bounds after Trim(50): %d..%d", base, head)
	}
	j.Record(nsResult(11, "b"))
	if got, _ := j.Since(10, 10); len(got) != 1 || got[0].Revision != 11 {
		t.Fatalf("after trimming past the head: %+v", got)
	}
}
