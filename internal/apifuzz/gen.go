package apifuzz

import (
	"math"
	"math/rand/v2"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Limits bound the messages Gen builds.
type Limits struct {
	// MaxDepth is how deep nested messages go (the top message is depth 0).
	MaxDepth int
	// MaxRepeated is the usual most elements of a repeated field or map;
	// one field in LongEvery gets up to LongRepeated.
	MaxRepeated, LongRepeated int
	// MaxString is the usual longest string or bytes value; one in
	// LongEvery gets up to LongString.
	MaxString, LongString int
	LongEvery             int
}

// DefaultLimits keep requests under the server's 1 MiB message limit except
// for the rare long value, which may cross it on purpose.
func DefaultLimits() Limits {
	return Limits{MaxDepth: 5, MaxRepeated: 4, LongRepeated: 200, MaxString: 40, LongString: 1 << 20, LongEvery: 200}
}

// Gen builds random protobuf values. It is not safe for concurrent use:
// each client has its own, seeded from the run's seed.
type Gen struct {
	R      *rand.Rand
	Limits Limits
	// Words are strings worth choosing often (names the seeds use, node
	// ids, enum-like values), so random requests meet existing state.
	Words []string
}

// NewGen returns a generator seeded with seed.
func NewGen(seed uint64, words []string) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), Limits: DefaultLimits(), Words: words}
}

// New returns an empty message of md's type: the generated Go type when one
// is linked in, a dynamic message otherwise.
func New(md protoreflect.MessageDescriptor) proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(md)
}

// Random returns a message of md's type with random fields.
func (g *Gen) Random(md protoreflect.MessageDescriptor) proto.Message {
	m := New(md)
	g.fill(m.ProtoReflect(), 0)
	return m
}

func (g *Gen) chance(n int) bool { return g.R.IntN(n) == 0 }

// fill sets a random subset of m's fields (at most one member per oneof).
func (g *Gen) fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil {
			continue // below, once per oneof
		}
		if g.R.IntN(10) < 6 {
			g.setField(m, fd, depth)
		}
	}
	oneofs := m.Descriptor().Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if g.chance(4) {
			continue // leave the oneof empty
		}
		g.setField(m, od.Fields().Get(g.R.IntN(od.Fields().Len())), depth)
	}
}

// setField gives fd a random value in m.
func (g *Gen) setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) {
	switch {
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		for n := g.count(); n > 0; n-- {
			k := g.scalar(fd.MapKey()).MapKey()
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				g.fill(mp.Mutable(k).Message(), depth+1)
			} else {
				mp.Set(k, g.scalar(fd.MapValue()))
			}
		}
	case fd.IsList():
		l := m.Mutable(fd).List()
		for n := g.count(); n > 0; n-- {
			if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
				if depth >= g.Limits.MaxDepth {
					return
				}
				e := l.NewElement()
				g.fill(e.Message(), depth+1)
				l.Append(e)
			} else {
				l.Append(g.scalar(fd))
			}
		}
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		if depth >= g.Limits.MaxDepth {
			return
		}
		g.fill(m.Mutable(fd).Message(), depth+1)
	default:
		m.Set(fd, g.scalar(fd))
	}
}

func (g *Gen) count() int {
	if g.chance(g.Limits.LongEvery) {
		return g.R.IntN(g.Limits.LongRepeated + 1)
	}
	return g.R.IntN(g.Limits.MaxRepeated + 1)
}

var (
	interestingInts = []int64{0, 1, -1, 2, 10, 100, 1000, math.MaxInt8, math.MaxInt16, math.MaxInt32, math.MinInt32,
		math.MaxUint32, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, 1 << 53, 3_600_000, 3_600_001}
	interestingFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e9, 1e308, -1e308, math.SmallestNonzeroFloat64,
		math.Inf(1), math.Inf(-1), math.NaN()}
)

func (g *Gen) int64v() int64 {
	switch g.R.IntN(4) {
	case 0, 1:
		return interestingInts[g.R.IntN(len(interestingInts))]
	case 2:
		return int64(g.R.IntN(200)) - 20
	}
	return int64(g.R.Uint64())
}

// scalar is a random value of a non-message field.
func (g *Gen) scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(g.R.IntN(2) == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if g.chance(8) {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(int32(g.int64v())))
		}
		return protoreflect.ValueOfEnum(vals.Get(g.R.IntN(vals.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(g.int64v()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(g.int64v())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(g.int64v()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(g.int64v()))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(interestingFloats[g.R.IntN(len(interestingFloats))]))
	case protoreflect.DoubleKind:
		if g.chance(2) {
			return protoreflect.ValueOfFloat64(g.R.NormFloat64() * 1000)
		}
		return protoreflect.ValueOfFloat64(interestingFloats[g.R.IntN(len(interestingFloats))])
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(g.String())
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(g.Bytes())
	}
	return fd.Default()
}

// String is a random valid UTF-8 string: often a known word, sometimes
// empty, odd (unicode, path-like, control characters) or very long.
func (g *Gen) String() string {
	switch r := g.R.IntN(20); {
	case r < 8 && len(g.Words) > 0:
		return g.Words[g.R.IntN(len(g.Words))]
	case r < 10:
		return ""
	case r < 11:
		return strings.Repeat(string(rune('a'+g.R.IntN(26))), g.length())
	case r < 12:
		return []string{"..", "../../etc/passwd", "a/b", " ", "\x00", "\t\n", "名前", "🙂", "\u202e", "UPPER", "-a", "a-", "a..b", "%s%n"}[g.R.IntN(14)]
	}
	b := make([]rune, g.R.IntN(g.Limits.MaxString+1))
	for i := range b {
		if g.chance(10) {
			b[i] = rune(g.R.IntN(0xD7FF) + 1)
		} else {
			b[i] = rune(0x20 + g.R.IntN(0x5f))
		}
	}
	return string(b)
}

func (g *Gen) length() int {
	if g.chance(g.Limits.LongEvery / 10) {
		return g.R.IntN(g.Limits.LongString + 1)
	}
	return g.R.IntN(4096)
}

// Bytes is a random byte string, often not valid UTF-8.
func (g *Gen) Bytes() []byte {
	switch g.R.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte{0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80}
	case 2:
		return make([]byte, g.length())
	case 3:
		return []byte(`{"postgres":{"pool_size":20}}`)
	}
	b := make([]byte, g.R.IntN(g.Limits.MaxString*4+1))
	for i := range b {
		b[i] = byte(g.R.Uint32())
	}
	return b
}
