package placement

import (
	"math/bits"
	"strconv"
)

// inf is the utilization reported for a load on a zero capacity.
const inf = int64(1) << 61

// utilPPM is ceil(load*1e6/cap): utilization in parts per million, rounded
// up so that utilPPM(load, cap) <= p*1000 exactly when load*1000 <= p*cap.
func utilPPM(load, capa int64) int64 {
	if load <= 0 {
		return 0
	}
	if capa <= 0 {
		return inf
	}
	if load < 1<<43 {
		// load*1e6 < 2^63: one 64-bit division.
		return (load*1_000_000 + capa - 1) / capa
	}
	hi, lo := bits.Mul64(uint64(load), 1_000_000)
	if hi >= uint64(capa) {
		return inf
	}
	q, r := bits.Div64(hi, lo, uint64(capa))
	if r != 0 {
		q++
	}
	if q > uint64(inf) {
		return inf
	}
	return int64(q)
}

// worstPPM is the worst-dimension utilization of load on capa.
func worstPPM(load, capa Load) int64 {
	w := utilPPM(load.ReadRPS, capa.ReadRPS)
	if u := utilPPM(load.WriteRPS, capa.WriteRPS); u > w {
		w = u
	}
	if u := utilPPM(load.DataMB, capa.DataMB); u > w {
		w = u
	}
	return w
}

// worstDim is the index of the worst dimension.
func worstDim(load, capa Load) int {
	best, w := 0, int64(-1)
	for d := 0; d < dims; d++ {
		if u := utilPPM(load.at(d), capa.at(d)); u > w {
			best, w = d, u
		}
	}
	return best
}

// le128 reports a*b <= c*d for non-negative operands.
func le128(a, b, c, d int64) bool {
	ah, al := bits.Mul64(uint64(a), uint64(b))
	ch, cl := bits.Mul64(uint64(c), uint64(d))
	return ah < ch || (ah == ch && al <= cl)
}

// fitsPermille reports load*1000 <= permille*capa in every dimension.
func fitsPermille(load, capa Load, permille int64) bool {
	return le128(load.ReadRPS, 1000, permille, capa.ReadRPS) &&
		le128(load.WriteRPS, 1000, permille, capa.WriteRPS) &&
		le128(load.DataMB, 1000, permille, capa.DataMB)
}

// fitsWhole reports load <= capa in every dimension.
func fitsWhole(load, capa Load) bool {
	return load.ReadRPS <= capa.ReadRPS && load.WriteRPS <= capa.WriteRPS && load.DataMB <= capa.DataMB
}

// exceedsPermille reports load*1000 > permille*capa in some dimension.
func exceedsPermille(load, capa Load, permille int64) bool {
	return !fitsPermille(load, capa, permille)
}

func permille(ppm int64) int64 {
	if ppm >= inf {
		return inf
	}
	return ppm / 1000
}

func fmtPermille(p int64) string {
	if p >= inf/1000 {
		return "inf"
	}
	s := itoa(p / 10)
	return s + "." + itoa(p%10) + "%"
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// floorPPM is floor(load*1e6/cap), a lower bound of utilPPM.
func floorPPM(load, capa int64) int64 {
	if load <= 0 {
		return 0
	}
	if capa <= 0 {
		return inf
	}
	hi, lo := bits.Mul64(uint64(load), 1_000_000)
	if hi >= uint64(capa) {
		return inf
	}
	q, _ := bits.Div64(hi, lo, uint64(capa))
	return int64(min(q, uint64(inf)))
}
