package cleanup

import (
	"context"
	"testing"
)

// TestChainSizes: each chain is estimated at the members of its bucket's
// groups, both claim halves alike, and its requests carry that priority.
func TestChainSizes(t *testing.T) {
	groups := []GroupInfo{{ID: "g1", MemberCount: 100}, {ID: "g2", MemberCount: 30}, {ID: "g3", MemberCount: 5}}
	st := planChains([]string{"g1", "g2", "g3"}, 4) // buckets g1+g3 and g2
	var got []int
	for i := range st.Chains {
		got = append(got, st.size(i, groups))
	}
	want := []int{105, 30, 105, 30} // managed b0, b1, unmanaged b0, b1
	if len(got) != len(want) {
		t.Fatalf("sizes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sizes %v, want %v", got, want)
		}
	}
	whole := planChains([]string{"g1"}, 1)
	if n := whole.size(0, groups); n != 0 {
		t.Errorf("a chain over the whole search: size %d, want 0", n)
	}
	ctx := WithRequestPriority(context.Background(), 105)
	if p, ok := RequestPriorityOf(ctx); p != 105 || !ok {
		t.Errorf("priority %d, %v, want 105", p, ok)
	}
	if _, ok := RequestPriorityOf(context.Background()); ok {
		t.Errorf("a priority where none was set")
	}
}
