package apifuzz

import (
	"math"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Mutate returns a copy of seed with one to four changes, each at a random
// field anywhere in the message tree: cleared, replaced by a random value,
// pushed to an extreme, a oneof emptied or switched to another member, a
// repeated field grown, duplicated or emptied.
func (g *Gen) Mutate(seed proto.Message) proto.Message {
	m := proto.Clone(seed)
	for n := 1 + g.R.IntN(4); n > 0; n-- {
		g.mutateOne(m.ProtoReflect(), 0)
	}
	return m
}

// mutateOne changes one field of m or, sometimes, of a message below it.
func (g *Gen) mutateOne(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	if fields.Len() == 0 {
		return
	}
	// Descend into a set message field half of the time.
	if depth < g.Limits.MaxDepth && g.chance(2) {
		var sub []protoreflect.Message
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsMap():
			case fd.IsList() && fd.Kind() == protoreflect.MessageKind && v.List().Len() > 0:
				sub = append(sub, v.List().Get(g.R.IntN(v.List().Len())).Message())
			case !fd.IsList() && fd.Kind() == protoreflect.MessageKind:
				sub = append(sub, m.Mutable(fd).Message())
			}
			return true
		})
		if len(sub) > 0 {
			g.mutateOne(sub[g.R.IntN(len(sub))], depth+1)
			return
		}
	}
	fd := fields.Get(g.R.IntN(fields.Len()))
	switch r := g.R.IntN(10); {
	case r < 2:
		m.Clear(fd)
	case r < 3 && fd.ContainingOneof() != nil:
		od := fd.ContainingOneof()
		if set := m.WhichOneof(od); set != nil {
			m.Clear(set)
		}
		if g.chance(2) {
			g.setField(m, od.Fields().Get(g.R.IntN(od.Fields().Len())), depth)
		}
	case r < 5 && fd.IsList() && m.Has(fd):
		l := m.Mutable(fd).List()
		switch g.R.IntN(3) {
		case 0: // duplicate an element
			l.Append(l.Get(g.R.IntN(l.Len())))
		case 1: // grow
			for n := g.count(); n > 0; n-- {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					g.fill(e.Message(), depth+1)
					l.Append(e)
				} else {
					l.Append(g.scalar(fd))
				}
			}
		default:
			l.Truncate(0)
		}
	case r < 7 && !fd.IsList() && !fd.IsMap() && fd.Kind() != protoreflect.MessageKind:
		m.Set(fd, g.extreme(fd))
	default:
		m.Clear(fd)
		g.setField(m, fd, depth)
	}
}

// extreme is a boundary value for a scalar field.
func (g *Gen) extreme(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{math.MaxInt64, math.MinInt64, -1, math.MaxInt64 - 1, 1 << 62}[g.R.IntN(5)])
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{math.MaxInt32, math.MinInt32, -1}[g.R.IntN(3)])
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{math.MaxUint64, math.MaxInt64, 1 << 63}[g.R.IntN(3)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(math.MaxUint32)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(longString(g))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0xff, 0xfe, 0xfd, 0x00, 0xc3})
	}
	return g.scalar(fd)
}

func longString(g *Gen) string {
	n := []int{65, 256, 4097, 70_000}[g.R.IntN(4)]
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// MutateBytes changes wire bytes: flipped bits, a cut, a duplicated or
// random run, a stray field of a random number and type.
func (g *Gen) MutateBytes(b []byte) []byte {
	b = append([]byte(nil), b...)
	for n := 1 + g.R.IntN(3); n > 0; n-- {
		switch g.R.IntN(5) {
		case 0:
			if len(b) > 0 {
				b[g.R.IntN(len(b))] ^= byte(1 << g.R.IntN(8))
			}
		case 1:
			if len(b) > 0 {
				b = b[:g.R.IntN(len(b))]
			}
		case 2:
			if len(b) > 0 {
				i, j := g.R.IntN(len(b)), g.R.IntN(len(b))
				if i > j {
					i, j = j, i
				}
				b = append(b[:j:j], append(append([]byte(nil), b[i:j]...), b[j:]...)...)
			}
		case 3:
			r := make([]byte, 1+g.R.IntN(16))
			for i := range r {
				r[i] = byte(g.R.Uint32())
			}
			i := g.R.IntN(len(b) + 1)
			b = append(b[:i:i], append(r, b[i:]...)...)
		default:
			// A field with a random number and wire type, then a varint.
			tag := uint64(1+g.R.IntN(1<<12))<<3 | uint64(g.R.IntN(6))
			for tag >= 0x80 {
				b = append(b, byte(tag)|0x80)
				tag >>= 7
			}
			b = append(b, byte(tag), byte(g.R.IntN(0x80)))
		}
	}
	return b
}
