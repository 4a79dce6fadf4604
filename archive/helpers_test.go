package archive

import (
	"bytes"
	"io"
	"testing"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

func putCmd(name string, at uint64) *fsmpb.Command {
	return &fsmpb.Command{UnixNano: int64(at) * 1000, Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{
		Spec: &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "bench", Capacity: &fsmpb.Capacity{EstimatedReadRps: int64(at)}}}}}
}

func (s *fsmSource) setClusterID(t *testing.T, id string) {
	t.Helper()
	s.index++
	b, err := fsm.EncodeCommand(&fsmpb.Command{Body: &fsmpb.Command_SetClusterId{SetClusterId: &fsmpb.SetClusterID{ClusterId: id}}})
	if err != nil {
		t.Fatal(err)
	}
	s.j.Record(s.Apply(s.index, b))
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
