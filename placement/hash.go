package placement

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// nsSeed is the FNV-1a state after hashing the namespace name and a NUL
// separator; rendezvous continues it with the shard id.
func nsSeed(name string) uint64 {
	h := fnvAdd(fnvOffset64, name)
	h ^= 0
	h *= fnvPrime64
	return h
}

func rendezvous(seed uint64, shard string) uint64 {
	h := fnvAdd(seed, shard)
	// splitmix64 finalizer: FNV's low-entropy tail gets spread over all bits.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// RendezvousHash is the tie-breaker the engine uses between equally good
// shards for a namespace: the shard with the highest value wins. It is
// FNV-1a 64 over namespace, NUL, shard, with a splitmix64 finalizer.
func RendezvousHash(namespace, shard string) uint64 {
	return rendezvous(nsSeed(namespace), shard)
}
