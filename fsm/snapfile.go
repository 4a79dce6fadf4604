package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
)

// A snapshot file (prismctl snapshot save) is a snapshot stream followed by
// a trailer: snapFileMagic and the SHA-256 of the stream.
var snapFileMagic = []byte("PRISMSUM")

// ErrBadSnapshotFile: the file is truncated or its checksum does not match.
var ErrBadSnapshotFile = errors.New("fsm: bad snapshot file")

// SealSnapshot appends the trailer to a snapshot stream.
func SealSnapshot(stream []byte) []byte {
	sum := sha256.Sum256(stream)
	out := make([]byte, 0, len(stream)+len(snapFileMagic)+len(sum))
	out = append(append(append(out, stream...), snapFileMagic...), sum[:]...)
	return out
}

// OpenSnapshot checks a snapshot file's trailer and returns the stream and
// its checksum.
func OpenSnapshot(file []byte) (stream []byte, sum [32]byte, err error) {
	tl := len(snapFileMagic) + sha256.Size
	if len(file) < tl || !bytes.Equal(file[len(file)-tl:len(file)-sha256.Size], snapFileMagic) {
		return nil, sum, errors.Join(ErrBadSnapshotFile, errors.New("no checksum trailer (truncated or not a prism snapshot)"))
	}
	stream = file[:len(file)-tl]
	sum = sha256.Sum256(stream)
	if !bytes.Equal(sum[:], file[len(file)-sha256.Size:]) {
		return nil, sum, errors.Join(ErrBadSnapshotFile, errors.New("checksum mismatch"))
	}
	return stream, sum, nil
}
