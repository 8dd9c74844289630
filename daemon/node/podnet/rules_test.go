package podnet

import (
	"net/netip"
	"strings"
	"testing"
)

const (
	natRule    = `-A SHOAL-POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 ! -o shoal0 -m mark ! --mark 0x4000/0x4000 -m comment --comment "shoal: pod to pod keeps its source address" -j ACCEPT`
	natJump    = `-A POSTROUTING -m comment --comment "shoal: pod network, keep first" -j SHOAL-POSTROUTING`
	dockerMasq = `-A POSTROUTING -s 10.244.1.0/24 ! -o shoal0 -j MASQUERADE`
	fwdFrom    = `-A SHOAL-FORWARD -s 10.244.0.0/16 -i shoal0 -m comment --comment "shoal: traffic from pods on this host" -j ACCEPT`
	fwdTo      = `-A SHOAL-FORWARD -d 10.244.0.0/16 ! -i shoal0 -o shoal0 -m comment --comment "shoal: traffic to pods on this host" -j ACCEPT`
	fwdJumpArg = `-m comment --comment "shoal: pod network, below DOCKER-USER" -j SHOAL-FORWARD`
	fwdJump    = `-A FORWARD ` + fwdJumpArg
	userJump   = `-A FORWARD -j DOCKER-USER`
	isoJump    = `-A FORWARD -j DOCKER-ISOLATION-STAGE-1`
	adminDrop  = `-A FORWARD -d 10.244.2.0/24 -j DROP`
)

func listing(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestRestoreInput(t *testing.T) {
	specs := chainsFor(netip.MustParsePrefix("10.244.0.0/16"), netip.Prefix{}, "shoal0")
	natBase := []string{"-P PREROUTING ACCEPT", "-P INPUT ACCEPT", "-P OUTPUT ACCEPT", "-P POSTROUTING ACCEPT"}
	filterBase := []string{"-P INPUT ACCEPT", "-P FORWARD DROP", "-P OUTPUT ACCEPT"}
	for _, tc := range []struct {
		name    string
		table   string
		listing string
		want    []string // lines between the table header and COMMIT; nil: no change
	}{
		{name: "nothing there yet", table: "nat", listing: listing(natBase...), want: []string{
			":SHOAL-POSTROUTING - [0:0]", natRule,
			`-I POSTROUTING 1 -m comment --comment "shoal: pod network, keep first" -j SHOAL-POSTROUTING`}},
		{name: "all in place", table: "nat",
			listing: listing(append(natBase, "-N SHOAL-POSTROUTING", natJump, dockerMasq, natRule)...)},
		{name: "docker put its rule first", table: "nat",
			listing: listing(append(natBase, "-N SHOAL-POSTROUTING", dockerMasq, natJump, natRule)...), want: []string{
				`-D POSTROUTING -m comment --comment "shoal: pod network, keep first" -j SHOAL-POSTROUTING`,
				`-I POSTROUTING 1 -m comment --comment "shoal: pod network, keep first" -j SHOAL-POSTROUTING`}},
		{name: "a duplicate jump goes", table: "nat",
			listing: listing(append(natBase, "-N SHOAL-POSTROUTING", natJump, dockerMasq, "-A POSTROUTING -j SHOAL-POSTROUTING", natRule)...),
			want: []string{
				`-D POSTROUTING -m comment --comment "shoal: pod network, keep first" -j SHOAL-POSTROUTING`,
				`-D POSTROUTING -j SHOAL-POSTROUTING`,
				`-I POSTROUTING 1 -m comment --comment "shoal: pod network, keep first" -j SHOAL-POSTROUTING`}},
		{name: "rules of an older cluster CIDR are replaced", table: "nat",
			listing: listing(append(natBase, "-N SHOAL-POSTROUTING", natJump,
				"-A SHOAL-POSTROUTING -s 10.99.0.0/16 -d 10.99.0.0/16 -j RETURN")...),
			want: []string{":SHOAL-POSTROUTING - [0:0]", natRule}},
		{name: "the filter table from scratch", table: "filter", listing: listing(filterBase...), want: []string{
			":SHOAL-FORWARD - [0:0]", fwdFrom, fwdTo, `-I FORWARD 1 ` + fwdJumpArg}},
		{name: "from scratch on a docker host: right below DOCKER-USER", table: "filter",
			listing: listing(append(filterBase, "-N DOCKER-USER", userJump, isoJump)...), want: []string{
				":SHOAL-FORWARD - [0:0]", fwdFrom, fwdTo, `-I FORWARD 2 ` + fwdJumpArg}},
		{name: "docker re-inserted its jumps after a restart: ours stays below", table: "filter",
			listing: listing(append(filterBase, "-N DOCKER-USER", "-N SHOAL-FORWARD",
				userJump, isoJump, fwdJump, fwdFrom, fwdTo)...)},
		{name: "an administrator's rule above ours stays above", table: "filter",
			listing: listing(append(filterBase, "-N DOCKER-USER", "-N SHOAL-FORWARD",
				adminDrop, userJump, isoJump, "-A FORWARD -o docker0 -j DOCKER", fwdJump, fwdFrom, fwdTo)...)},
		{name: "above DOCKER-USER: moved right below it", table: "filter",
			listing: listing(append(filterBase, "-N DOCKER-USER", "-N SHOAL-FORWARD",
				fwdJump, adminDrop, userJump, isoJump, fwdFrom, fwdTo)...),
			want: []string{`-D FORWARD ` + fwdJumpArg, `-I FORWARD 3 ` + fwdJumpArg}},
		{name: "an older agent's first jump is replaced", table: "filter",
			listing: listing(append(filterBase, "-N DOCKER-USER", "-N SHOAL-FORWARD",
				`-A FORWARD -m comment --comment "shoal: pod network, keep first" -j SHOAL-FORWARD`, userJump, isoJump,
				"-A SHOAL-FORWARD -s 10.244.0.0/16 -j ACCEPT", "-A SHOAL-FORWARD -d 10.244.0.0/16 -j ACCEPT")...),
			want: []string{":SHOAL-FORWARD - [0:0]", fwdFrom, fwdTo,
				`-D FORWARD -m comment --comment "shoal: pod network, keep first" -j SHOAL-FORWARD`, `-I FORWARD 2 ` + fwdJumpArg}},
		{name: "deleted by hand: back below DOCKER-USER", table: "filter",
			listing: listing(append(filterBase, "-N DOCKER-USER", "-N SHOAL-FORWARD",
				adminDrop, userJump, isoJump, fwdFrom, fwdTo)...),
			want: []string{`-I FORWARD 3 ` + fwdJumpArg}},
		{name: "a doubled jump: one is kept, below DOCKER-USER", table: "filter",
			listing: listing(append(filterBase, "-N DOCKER-USER", "-N SHOAL-FORWARD",
				fwdJump, userJump, fwdJump, isoJump, fwdFrom, fwdTo)...),
			want: []string{`-D FORWARD ` + fwdJumpArg, `-D FORWARD ` + fwdJumpArg, `-I FORWARD 2 ` + fwdJumpArg}},
		{name: "a comment mentioning our chain is not a jump", table: "filter",
			listing: listing(append(filterBase, "-N SHOAL-FORWARD", fwdJump, fwdFrom, fwdTo,
				`-A FORWARD -m comment --comment "-j SHOAL-FORWARD" -j ACCEPT`)...)},
		{name: "the service proxy's chains are none of ours", table: "nat",
			listing: listing(append(natBase, "-N SHOAL-SERVICES", "-N SHOAL-POSTROUTING",
				"-A PREROUTING -j SHOAL-SERVICES", natJump, natRule, "-A SHOAL-SERVICES -d 10.96.0.1/32 -j SHOAL-SVC-X")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := restoreInput(tc.table, tc.listing, specs)
			if tc.want == nil {
				if got != "" {
					t.Fatalf("restore input:\n%s\nwant none", got)
				}
				return
			}
			want := "*" + tc.table + "\n" + strings.Join(tc.want, "\n") + "\nCOMMIT\n"
			if got != want {
				t.Fatalf("restore input:\n%s\nwant:\n%s", got, want)
			}
			if strings.Contains(got, "SHOAL-SERVICES") {
				t.Fatal("touches the service proxy's chain")
			}
		})
	}
}

func TestTarget(t *testing.T) {
	for rule, want := range map[string]string{
		"-j SHOAL-FORWARD":                                    "SHOAL-FORWARD",
		"-s 10.0.0.0/8 -g SHOAL-X":                            "SHOAL-X",
		`-m comment --comment "-j X" -j ACCEPT`:               "ACCEPT",
		"-s 10.244.1.0/24 ! -o shoal0 -j MASQUERADE --random": "MASQUERADE",
		"-s 10.0.0.0/8":                                       "",
	} {
		if got := target(rule); got != want {
			t.Errorf("target(%q) = %q, want %q", rule, got, want)
		}
	}
}
