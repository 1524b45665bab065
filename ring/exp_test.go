package ring

import (
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/buraksezer/consistent"
)

type xm string

func (m xm) String() string { return string(m) + "#" }

// returns orders[p] = member list
func xbuild(P, V int, load float64, members []string, walk bool) [][]string { return xbuild2(P,V,load,members,walk,false) }
func xbuild2(P, V int, load float64, members []string, walk, bounded bool) [][]string {
	ms := make([]consistent.Member, len(members))
	s := append([]string(nil), members...)
	sort.Strings(s)
	for i, m := range s {
		ms[i] = xm(m)
	}
	c := consistent.New(ms, consistent.Config{Hasher: hasher{}, PartitionCount: P, ReplicationFactor: V, Load: load})
	out := make([][]string, P)
	// own vnode ring for walk
	type pt struct {
		h uint64
		m string
	}
	var pts []pt
	for _, m := range s {
		for i := 0; i < V; i++ {
			pts = append(pts, pt{Hash64([]byte(m + "#" + strconv.Itoa(i))), m})
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].h < pts[j].h })
	n := 3
	if n > len(s) {
		n = len(s)
	}
	rcap := float64(int(float64(P*n)/float64(len(s))*load + 0.999999))
	rl := map[string]float64{}
	for p := 0; p < P; p++ {
		if !walk {
			l, err := c.GetClosestNForPartition(p, len(s))
			if err != nil {
				panic(err)
			}
			for _, m := range l {
				out[p] = append(out[p], string(m.(xm)))
			}
			continue
		}
		own := string(c.GetPartitionOwner(p).(xm))
		out[p] = []string{own}
		rl[own]++
		var b [8]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(uint64(p) >> (8 * i))
		}
		h := Hash64(b[:])
		idx := sort.Search(len(pts), func(i int) bool { return pts[i].h >= h })
		seen := map[string]bool{own: true}
		if bounded {
			for k := 0; len(out[p]) < n && k < len(pts); k++ {
				q := pts[(idx+k)%len(pts)]
				if !seen[q.m] && rl[q.m] < rcap {
					seen[q.m] = true
					rl[q.m]++
					out[p] = append(out[p], q.m)
				}
			}
		}
		for k := 0; len(out[p]) < len(s); k++ {
			q := pts[(idx+k)%len(pts)]
			if !seen[q.m] {
				seen[q.m] = true
				out[p] = append(out[p], q.m)
			}
		}
	}
	return out
}

func names(n int) []string {
	var s []string
	for i := 1; i <= n; i++ {
		s = append(s, fmt.Sprintf("node-%d", i))
	}
	return s
}

func setEq(a, b []string) bool {
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestExp(t *testing.T) {
	const P, N = 1024, 3
	for strat := 0; strat < 3; strat++ {
		walk, bnd := strat > 0, strat == 2
		for _, V := range []int{16, 32, 64, 128, 256} {
			var worstP, worstR, sumAdd, sumIdeal, maxAdd, sumPrim float64
			var cnt, sumRm float64
			var maxFb int
			t0 := time.Now()
			for M := 3; M <= 12; M++ {
				ms := names(M)
				o := xbuild2(P, V, 1.25, ms, walk, bnd)
				prim := map[string]int{}
				rep := map[string]int{}
				for p := 0; p < P; p++ {
					prim[o[p][0]]++
					for _, m := range o[p][:N] {
						rep[m]++
					}
				}
				for _, m := range ms {
					a := float64(prim[m]) / (float64(P) / float64(M))
					if a > worstP {
						worstP = a
					}
					n := N
					if n > M {
						n = M
					}
					r := float64(rep[m]) / (float64(P*n) / float64(M))
					if r > worstR {
						worstR = r
					}
				}
				// fallback spread: node-1 down, where do its partitions' fallbacks go
				fb := map[string]int{}
				for p := 0; p < P; p++ {
					for i, m := range o[p][:N] {
						if m == "node-1" && len(o[p]) > N {
							_ = i
							fb[o[p][N]]++
						}
					}
				}
				if len(fb) > maxFb {
					maxFb = len(fb)
				}
				// add one
				o2 := xbuild2(P, V, 1.25, names(M+1), walk, bnd)
				rm := append([]string(nil), names(M+1)...)
				rm = append(rm[:M/2], rm[M/2+1:]...)
				o3 := xbuild2(P, V, 1.25, rm, walk, bnd)
				rch := 0
				for p := 0; p < P; p++ {
					if !setEq(o3[p][:N], o2[p][:N]) {
						rch++
					}
				}
				sumRm += float64(rch) / P
				ch, pch := 0, 0
				for p := 0; p < P; p++ {
					if !setEq(o[p][:N], o2[p][:N]) {
						ch++
					}
					if o[p][0] != o2[p][0] {
						pch++
					}
				}
				f := float64(ch) / P
				ideal := float64(N) / float64(M+1)
				sumAdd += f
				sumIdeal += ideal
				sumPrim += float64(pch) / P
				if f/ideal > maxAdd {
					maxAdd = f / ideal
				}
				cnt++
			}
			t.Logf("strat=%d rm=%.3f V=%d maxPrim/avg=%.3f maxRep/avg=%.3f add: mean changed=%.3f ideal=%.3f worst ratio=%.2f primMoved=%.3f fallbackTargets(M=12)=%d  (%v)",
				strat, sumRm/cnt, V, worstP, worstR, sumAdd/cnt, sumIdeal/cnt, maxAdd, sumPrim/cnt, maxFb, time.Since(t0))
		}
	}
}
