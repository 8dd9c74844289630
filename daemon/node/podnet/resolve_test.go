package podnet

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	errEngine := errors.New("engine down")
	for _, tc := range []struct {
		name     string
		self     string
		current  string // "" for none
		others   []nodeClaim
		pods     bool
		podsErr  error
		want     string
		moved    bool
		keptFrom []string
		contest  []string
		askPods  bool // whether runsPods must be asked
		wantErr  error
	}{
		{name: "first claim takes the lowest free", self: "b", others: claims("a", "10.244.0.0/24"),
			want: "10.244.1.0/24"},
		{name: "first claim in an empty cluster", self: "a", want: "10.244.0.0/24"},
		{name: "a claim nobody else has is kept", self: "b", current: "10.244.7.0/24",
			others: claims("a", "10.244.0.0/24"), want: "10.244.7.0/24"},
		{name: "the lowest name keeps a shared subnet", self: "a", current: "10.244.0.0/24",
			others: claims("b", "10.244.0.0/24"), want: "10.244.0.0/24", contest: []string{"b"}},
		// fnv-1a("b") mod 256 = 229: b searches from 10.244.229.0/24.
		{name: "a higher name without pods moves to a free one from its own start", self: "b", current: "10.244.0.0/24",
			others: claims("a", "10.244.0.0/24", "c", "10.244.1.0/24"), want: "10.244.229.0/24", moved: true, askPods: true},
		{name: "the search goes on past claimed subnets", self: "b", current: "10.244.0.0/24",
			others: claims("a", "10.244.0.0/24", "c", "10.244.229.0/24", "d", "10.244.230.0/23"), want: "10.244.232.0/24", moved: true, askPods: true},
		{name: "the search wraps around", self: "b", current: "10.244.0.0/24",
			others: claims("a", "10.244.0.0/24", "c", "10.244.228.0/22", "d", "10.244.232.0/21", "e", "10.244.240.0/20"), want: "10.244.1.0/24", moved: true, askPods: true},
		{name: "a higher name with pods keeps it and says why", self: "b", current: "10.244.0.0/24",
			others: claims("a", "10.244.0.0/24"), pods: true, want: "10.244.0.0/24", keptFrom: []string{"a"}, askPods: true},
		{name: "names compare as strings", self: "node10", current: "10.244.0.0/24",
			others: claims("node9", "10.244.0.0/24"), want: "10.244.0.0/24", contest: []string{"node9"}},
		{name: "an overlapping wider claim is a conflict too", self: "b", current: "10.244.1.0/24",
			others: claims("a", "10.244.0.0/23"), want: "10.244.229.0/24", moved: true, askPods: true},
		{name: "three claim one: the middle one moves", self: "b", current: "10.244.0.0/24",
			others: claims("a", "10.244.0.0/24", "c", "10.244.0.0/24"), want: "10.244.229.0/24", moved: true, askPods: true},
		{name: "no way to tell about pods", self: "b", current: "10.244.0.0/24",
			others: claims("a", "10.244.0.0/24"), podsErr: errEngine, askPods: true, wantErr: errEngine},
		{name: "nothing free to move to", self: "b", current: "10.244.0.0/24",
			others: claims("a", "10.244.0.0/16"), askPods: true, wantErr: ErrNoSubnet},
		{name: "nothing free at all", self: "b", others: claims("a", "10.244.0.0/16"), wantErr: ErrNoSubnet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var current netip.Prefix
			if tc.current != "" {
				current = netip.MustParsePrefix(tc.current)
			}
			asked := false
			out, err := resolve(tc.self, cluster, current, tc.others, func() (bool, error) {
				asked = true
				return tc.pods, tc.podsErr
			})
			if asked != tc.askPods {
				t.Errorf("runsPods asked = %v, want %v", asked, tc.askPods)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("resolve = %+v, %v; want %v", out, err, tc.wantErr)
				}
				return
			}
			if err != nil || out.subnet.String() != tc.want || out.moved != tc.moved ||
				!slices.Equal(out.keptFrom, tc.keptFrom) || !slices.Equal(out.contested, tc.contest) {
				t.Fatalf("resolve = %+v, %v; want %s moved=%v kept from %v contested %v",
					out, err, tc.want, tc.moved, tc.keptFrom, tc.contest)
			}
		})
	}
}
