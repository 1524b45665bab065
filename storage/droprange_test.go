package storage

import (
	"fmt"
	"testing"
)

func TestNormalizeRanges(t *testing.T) {
	r := func(a, b string) KeyRange {
		kr := KeyRange{Start: []byte(a)}
		if b != "" {
			kr.End = []byte(b)
		}
		return kr
	}
	tests := []struct {
		name string
		in   []KeyRange
		want string
	}{
		{"empty", nil, "[]"},
		{"empty ranges dropped", []KeyRange{r("b", "b"), r("c", "a")}, "[]"},
		{"sorted", []KeyRange{r("m", "p"), r("a", "c")}, "[[a c) [m p)]"},
		{"overlap merged", []KeyRange{r("a", "f"), r("c", "h")}, "[[a h)]"},
		{"adjacent merged", []KeyRange{r("a", "c"), r("c", "e")}, "[[a e)]"},
		{"contained", []KeyRange{r("a", "z"), r("c", "e")}, "[[a z)]"},
		{"unbounded swallows", []KeyRange{r("c", ""), r("d", "e"), r("a", "b")}, "[[a b) [c ∞)]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := "["
			for i, kr := range normalizeRanges(tc.in) {
				if i > 0 {
					got += " "
				}
				end := "∞"
				if kr.End != nil {
					end = string(kr.End)
				}
				got += fmt.Sprintf("[%s %s)", kr.Start, end)
			}
			got += "]"
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestInRanges(t *testing.T) {
	rs := normalizeRanges([]KeyRange{{Start: []byte("b"), End: []byte("d")}, {Start: []byte("m"), End: []byte("n")}, {Start: []byte("x")}})
	for key, want := range map[string]bool{
		"a": false, "b": true, "c": true, "d": false, "l": false, "m": true, "ma": true, "n": false, "x": true, "zz": true,
	} {
		if got := inRanges([]byte(key), rs); got != want {
			t.Errorf("inRanges(%q) = %v, want %v", key, got, want)
		}
	}
}
