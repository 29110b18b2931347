package entra_test

import (
	"slices"

	"github.com/google/go-cmp/cmp"
)

var cmpSortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
})
