package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Snapshot layout: a header record, then (table byte, uvarint length,
// protobuf record) entries, one table after another, ended by tableEnd.
// Each table has one persister and one restorer, registered in tables.
const snapshotVersion = 1

type tableID byte

const (
	tableHeader     tableID = 0
	tableNamespaces tableID = 1
	tableShards     tableID = 2
	tableRequests   tableID = 3
	tableTokens     tableID = 4
	tableEnd        tableID = 255
)

// frozen is the state captured for a snapshot: shared immutable records.
type frozen struct {
	header     *fsmpb.SnapshotHeader
	namespaces []*fsmpb.Namespace
	shards     []*fsmpb.Shard
	requests   []*fsmpb.RequestRecord
	tokens     []*fsmpb.Token
}

type table struct {
	id      tableID
	name    string
	persist func(fz *frozen, emit func(proto.Message) error) error
	restore func(s *state, rec []byte) error
}

var tables = []table{
	{
		id:   tableNamespaces,
		name: "namespaces",
		persist: func(fz *frozen, emit func(proto.Message) error) error {
			for _, ns := range fz.namespaces {
				if err := emit(ns); err != nil {
					return err
				}
			}
			return nil
		},
		restore: func(s *state, rec []byte) error {
			ns := &fsmpb.Namespace{}
			if err := proto.Unmarshal(rec, ns); err != nil {
				return err
			}
			if err := checkNamespaceRecord(ns); err != nil {
				return err
			}
			if _, dup := s.namespaces[ns.Spec.Name]; dup {
				return fmt.Errorf("%w: namespace %q twice", ErrBadSnapshot, ns.Spec.Name)
			}
			s.namespaces[ns.Spec.Name] = ns
			return nil
		},
	},
	{
		id:   tableShards,
		name: "shards",
		persist: func(fz *frozen, emit func(proto.Message) error) error {
			for _, sh := range fz.shards {
				if err := emit(sh); err != nil {
					return err
				}
			}
			return nil
		},
		restore: func(s *state, rec []byte) error {
			sh := &fsmpb.Shard{}
			if err := proto.Unmarshal(rec, sh); err != nil {
				return err
			}
			if err := checkShardRecord(sh); err != nil {
				return err
			}
			if _, dup := s.shards[sh.Spec.Id]; dup {
				return fmt.Errorf("%w: shard %q twice", ErrBadSnapshot, sh.Spec.Id)
			}
			s.shards[sh.Spec.Id] = sh
			return nil
		},
	},
	{
		id:   tableRequests,
		name: "requests",
		persist: func(fz *frozen, emit func(proto.Message) error) error {
			for _, r := range fz.requests {
				if err := emit(r); err != nil {
					return err
				}
			}
			return nil
		},
		restore: func(s *state, rec []byte) error {
			r := &fsmpb.RequestRecord{}
			if err := proto.Unmarshal(rec, r); err != nil {
				return err
			}
			if r.Id == "" || len(r.Id) > MaxRequestIDBytes {
				return fmt.Errorf("%w: request id of %d bytes", ErrBadSnapshot, len(r.Id))
			}
			if _, dup := s.requests.seen(r.Id); dup {
				return fmt.Errorf("%w: request id %q twice", ErrBadSnapshot, r.Id)
			}
			s.requests.restore(r)
			return nil
		},
	},
	{
		id:   tableTokens,
		name: "tokens",
		persist: func(fz *frozen, emit func(proto.Message) error) error {
			for _, t := range fz.tokens {
				if err := emit(t); err != nil {
					return err
				}
			}
			return nil
		},
		restore: func(s *state, rec []byte) error {
			t := &fsmpb.Token{}
			if err := proto.Unmarshal(rec, t); err != nil {
				return err
			}
			v := &validator{}
			checkTokenRecord(v, "token", t)
			if len(v.errs) > 0 {
				return fmt.Errorf("%w: %w", ErrBadSnapshot, &ValidationError{Fields: v.errs})
			}
			if err := s.acl.add(t); err != nil {
				return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
			}
			return nil
		},
	},
}

// Snapshot is a point-in-time copy of the state, cheap to take (it holds
// the immutable records) and written out later by WriteTo.
type Snapshot struct{ fz frozen }

// Snapshot captures the current state.
func (f *FSM) Snapshot() *Snapshot {
	f.mu.RLock()
	fz := frozen{
		header:     &fsmpb.SnapshotHeader{Version: snapshotVersion, Index: f.s.index, Revision: f.s.revision, ClusterId: f.s.clusterID, Generation: f.s.generation, AclBootstrapped: f.s.acl.bootstrapped},
		namespaces: make([]*fsmpb.Namespace, 0, len(f.s.namespaces)),
	}
	for _, ns := range f.s.namespaces {
		fz.namespaces = append(fz.namespaces, ns)
	}
	for _, sh := range f.s.shards {
		fz.shards = append(fz.shards, sh)
	}
	fz.requests = append([]*fsmpb.RequestRecord(nil), f.s.requests.live()...)
	for _, t := range f.s.acl.tokens {
		fz.tokens = append(fz.tokens, t)
	}
	f.mu.RUnlock()
	sort.Slice(fz.tokens, func(i, j int) bool { return fz.tokens[i].Id < fz.tokens[j].Id })
	sort.Slice(fz.namespaces, func(i, j int) bool { return fz.namespaces[i].Spec.GetName() < fz.namespaces[j].Spec.GetName() })
	sort.Slice(fz.shards, func(i, j int) bool { return fz.shards[i].Spec.GetId() < fz.shards[j].Spec.GetId() })
	return &Snapshot{fz: fz}
}

// Index and Revision say which point in the log the snapshot holds.
func (sn *Snapshot) Index() uint64   { return sn.fz.header.Index }
func (sn *Snapshot) Revision() int64 { return sn.fz.header.Revision }

// WriteTo writes the snapshot in the table format.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var n int64
	var lenBuf [binary.MaxVarintLen64 + 1]byte
	write := func(id tableID, m proto.Message) error {
		b, err := marshal.Marshal(m)
		if err != nil {
			return err
		}
		lenBuf[0] = byte(id)
		k := 1 + binary.PutUvarint(lenBuf[1:], uint64(len(b)))
		if _, err := bw.Write(lenBuf[:k]); err != nil {
			return err
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
		n += int64(k + len(b))
		return nil
	}
	if err := write(tableHeader, sn.fz.header); err != nil {
		return n, fmt.Errorf("fsm: snapshot header: %w", err)
	}
	for _, t := range tables {
		id := t.id
		if err := t.persist(&sn.fz, func(m proto.Message) error { return write(id, m) }); err != nil {
			return n, fmt.Errorf("fsm: snapshot table %s: %w", t.name, err)
		}
	}
	if err := bw.WriteByte(byte(tableEnd)); err != nil {
		return n, err
	}
	n++
	return n, bw.Flush()
}

// Restore replaces the whole state with a snapshot read from r.
func (f *FSM) Restore(r io.Reader) error {
	s, err := readSnapshot(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	replaced := s.generation != f.s.generation
	f.s = s
	f.mu.Unlock()
	f.signal()
	if f.OnRestore != nil {
		f.OnRestore(replaced)
	}
	return nil
}

// SnapshotInfo reads a snapshot and reports its header and record counts
// per table, without touching any FSM.
func SnapshotInfo(r io.Reader) (index uint64, revision int64, counts map[string]int, err error) {
	s, err := readSnapshot(r)
	if err != nil {
		return 0, 0, nil, err
	}
	return s.index, s.revision, map[string]int{"namespaces": len(s.namespaces), "shards": len(s.shards), "requests": len(s.requests.live()), "tokens": len(s.acl.tokens)}, nil
}

func readSnapshot(r io.Reader) (*state, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	byID := map[tableID]table{}
	for _, t := range tables {
		byID[t.id] = t
	}
	s := newState()
	sawHeader := false
	for {
		id, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("fsm: snapshot truncated: %w", err)
		}
		if tableID(id) == tableEnd {
			break
		}
		size, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("fsm: snapshot record length: %w", err)
		}
		if size > 64<<20 {
			return nil, fmt.Errorf("fsm: snapshot record of %d bytes is too large", size)
		}
		rec := make([]byte, size)
		if _, err := io.ReadFull(br, rec); err != nil {
			return nil, fmt.Errorf("fsm: snapshot record: %w", err)
		}
		if tableID(id) == tableHeader {
			h := &fsmpb.SnapshotHeader{}
			if err := proto.Unmarshal(rec, h); err != nil {
				return nil, fmt.Errorf("fsm: snapshot header: %w", err)
			}
			if h.Version != snapshotVersion {
				return nil, fmt.Errorf("fsm: snapshot version %d, this binary reads %d", h.Version, snapshotVersion)
			}
			s.index, s.revision, s.clusterID, s.generation, sawHeader = h.Index, h.Revision, h.ClusterId, h.Generation, true
			s.acl.bootstrapped = h.AclBootstrapped
			continue
		}
		if !sawHeader {
			return nil, fmt.Errorf("fsm: snapshot has no header")
		}
		t, ok := byID[tableID(id)]
		if !ok {
			return nil, fmt.Errorf("fsm: snapshot has unknown table %d", id)
		}
		if err := t.restore(s, rec); err != nil {
			return nil, fmt.Errorf("fsm: restore table %s: %w", t.name, err)
		}
	}
	if !sawHeader {
		return nil, fmt.Errorf("fsm: snapshot has no header")
	}
	if err := checkRecordRevisions(s); err != nil {
		return nil, err
	}
	return s, nil
}

// maxRebaseHeaderBytes bounds a snapshot's header record when rebasing
// (a header is a few dozen bytes); maxRebaseRecordBytes bounds any other
// record, as readSnapshot does.
const (
	maxRebaseHeaderBytes = 1 << 20
	maxRebaseRecordBytes = 64 << 20
)

// RebaseSnapshot copies a snapshot stream from src to dst for installing it
// into another cluster (or another point of this cluster's log): its
// header gets the raft index it will be installed at, the cluster id of
// the cluster that installs it, the cluster revision to continue from, and
// the restore generation (the installing cluster's plus one: a
// replacement, not a continuation). The records are copied as they are,
// one at a time, so memory stays bounded whatever the snapshot's size:
// only their framing is checked here (one header, first; known tables;
// lengths in bounds); SnapshotInfo decodes them. Bytes after the end
// marker are dropped. It returns the bytes written.
func RebaseSnapshot(dst io.Writer, src io.Reader, index uint64, clusterID string, revision int64, generation uint64) (int64, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	bw := bufio.NewWriterSize(dst, 64<<10)
	known := map[tableID]bool{}
	for _, t := range tables {
		known[t.id] = true
	}
	var n int64
	var lenBuf [binary.MaxVarintLen64 + 1]byte
	frame := func(id tableID, size uint64) error {
		lenBuf[0] = byte(id)
		k := 1 + binary.PutUvarint(lenBuf[1:], size)
		_, err := bw.Write(lenBuf[:k])
		n += int64(k)
		return err
	}
	sawHeader := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			return n, fmt.Errorf("fsm: snapshot truncated: %w", err)
		}
		id := tableID(b)
		if id == tableEnd {
			if !sawHeader {
				return n, fmt.Errorf("fsm: snapshot has no header")
			}
			if err := bw.WriteByte(byte(tableEnd)); err != nil {
				return n, err
			}
			return n + 1, bw.Flush()
		}
		size, err := binary.ReadUvarint(br)
		if err != nil {
			return n, fmt.Errorf("fsm: snapshot record length: %w", err)
		}
		switch {
		case id == tableHeader:
			if sawHeader {
				return n, fmt.Errorf("fsm: snapshot has more than one header")
			}
			if size > maxRebaseHeaderBytes {
				return n, fmt.Errorf("fsm: snapshot header of %d bytes is too large", size)
			}
			rec := make([]byte, size)
			if _, err := io.ReadFull(br, rec); err != nil {
				return n, fmt.Errorf("fsm: snapshot header: %w", err)
			}
			h := &fsmpb.SnapshotHeader{}
			if err := proto.Unmarshal(rec, h); err != nil {
				return n, fmt.Errorf("fsm: snapshot header: %w", err)
			}
			if h.Version != snapshotVersion {
				return n, fmt.Errorf("fsm: snapshot version %d, this binary reads %d", h.Version, snapshotVersion)
			}
			h.Index, h.ClusterId, h.Revision, h.Generation = index, clusterID, revision, generation
			out, err := marshal.Marshal(h)
			if err != nil {
				return n, fmt.Errorf("fsm: snapshot header: %w", err)
			}
			if err := frame(tableHeader, uint64(len(out))); err != nil {
				return n, err
			}
			k, err := bw.Write(out)
			n += int64(k)
			if err != nil {
				return n, err
			}
			sawHeader = true
		case !sawHeader:
			return n, fmt.Errorf("fsm: snapshot has no header")
		case !known[id]:
			return n, fmt.Errorf("fsm: snapshot has unknown table %d", id)
		case size > maxRebaseRecordBytes:
			return n, fmt.Errorf("fsm: snapshot record of %d bytes is too large", size)
		default:
			if err := frame(id, size); err != nil {
				return n, err
			}
			k, err := io.CopyN(bw, br, int64(size))
			n += k
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return n, fmt.Errorf("fsm: snapshot record: %w", err)
			}
		}
	}
}
