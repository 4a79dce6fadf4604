package rpc

import (
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

const chunkSize = 256 << 10

type snapshotService struct {
	rpcpb.UnimplementedSnapshotServiceServer
	node     *cluster.Node
	maxBytes int64 // Config.MaxSnapshotBytes
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

// Restore hands the node a reader over the chunks as they arrive: the node
// refuses before reading any when it cannot restore (not the leader, a
// restore already running) and spools the rest to disk.
func (s *snapshotService) Restore(stream rpcpb.SnapshotService_RestoreServer) error {
	rev, snapRev, err := s.node.RestoreSnapshot(stream.Context(), &chunkReader{stream: stream}, s.maxBytes)
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&rpcpb.SnapshotRestoreResponse{Revision: rev, SnapshotRevision: snapRev})
}

// chunkReader reads the data of a Restore stream's chunks.
type chunkReader struct {
	stream rpcpb.SnapshotService_RestoreServer
	buf    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		c, err := r.stream.Recv()
		if err != nil {
			return 0, err // io.EOF at the end
		}
		r.buf = c.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
