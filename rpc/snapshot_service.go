package rpc

import (
	"bytes"
	"fmt"
	"io"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// MaxSnapshotBytes bounds a snapshot sent to Restore.
const MaxSnapshotBytes = 1 << 30

const chunkSize = 256 << 10

type snapshotService struct {
	rpcpb.UnimplementedSnapshotServiceServer
	node *cluster.Node
}

// chunkWriter sends what it is given as SnapshotChunks.
type chunkWriter struct {
	stream rpcpb.SnapshotService_SaveServer
}

func (w chunkWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += chunkSize {
		end := min(off+chunkSize, len(p))
		if err := w.stream.Send(&rpcpb.SnapshotChunk{Data: p[off:end]}); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

func (s *snapshotService) Save(_ *rpcpb.SnapshotSaveRequest, stream rpcpb.SnapshotService_SaveServer) error {
	if _, err := s.node.SaveSnapshot(stream.Context(), chunkWriter{stream}); err != nil {
		return toStatus(err)
	}
	return nil
}

func (s *snapshotService) Restore(stream rpcpb.SnapshotService_RestoreServer) error {
	var buf bytes.Buffer
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if buf.Len()+len(c.Data) > MaxSnapshotBytes {
			return toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "snapshot", Message: fmt.Sprintf("larger than %d bytes", MaxSnapshotBytes)}}})
		}
		buf.Write(c.Data)
	}
	_, snapRev, _, err := fsm.SnapshotInfo(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "snapshot", Message: err.Error()}}})
	}
	rev, err := s.node.RestoreSnapshot(stream.Context(), buf.Bytes())
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&rpcpb.SnapshotRestoreResponse{Revision: rev, SnapshotRevision: snapRev})
}
