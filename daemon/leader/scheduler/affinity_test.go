package scheduler

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func labelled(kv ...string) func(*api.Pod) {
	return func(p *api.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func inNamespace(ns string) func(*api.Pod) { return func(p *api.Pod) { p.Namespace = ns } }

func zone(z string) func(*api.Node) { return func(n *api.Node) { n.Labels[api.LabelZone] = z } }

func selecting(kv ...string) *api.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &api.LabelSelector{MatchLabels: m}
}

func term(key string, sel *api.LabelSelector, mods ...func(*api.PodAffinityTerm)) api.PodAffinityTerm {
	t := api.PodAffinityTerm{LabelSelector: sel, TopologyKey: key}
	for _, m := range mods {
		m(&t)
	}
	return t
}

func podAffinity(affinity *api.PodAffinity, anti *api.PodAntiAffinity) func(*api.Pod) {
	return func(p *api.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &api.Affinity{}
		}
		if affinity != nil {
			p.Spec.Affinity.PodAffinity = affinity
		}
		if anti != nil {
			p.Spec.Affinity.PodAntiAffinity = anti
		}
	}
}

func requiredAnti(terms ...api.PodAffinityTerm) func(*api.Pod) {
	return podAffinity(nil, &api.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms})
}

func requiredAffinity(terms ...api.PodAffinityTerm) func(*api.Pod) {
	return podAffinity(&api.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}, nil)
}

func preferredAnti(w int32, t api.PodAffinityTerm) func(*api.Pod) {
	return podAffinity(nil, &api.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: t}}})
}

func preferredAffinity(w int32, t api.PodAffinityTerm) func(*api.Pod) {
	return podAffinity(&api.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: t}}}, nil)
}

func spreading(cs ...api.TopologySpreadConstraint) func(*api.Pod) {
	return func(p *api.Pod) { p.Spec.TopologySpreadConstraints = cs }
}

func constraint(key string, maxSkew int32, when string, sel *api.LabelSelector, mods ...func(*api.TopologySpreadConstraint)) api.TopologySpreadConstraint {
	c := api.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: sel}
	for _, m := range mods {
		m(&c)
	}
	return c
}

// placeCase is a decision over given nodes: where the pod goes ("" for
// nowhere), or, when it goes nowhere, the fit error it gets.
type placeCase struct {
	name  string
	pod   *api.Pod
	nodes []*nodeInfo
	nl    namespaceLabels
	want  string // the node, or the message when no node fits
}

func runPlaceCases(t *testing.T, cases []placeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			best, reasons := pickNode(tc.pod, tc.nodes, "", tc.nl)
			got := ""
			if best != nil {
				got = best.node.Name
			} else {
				got = fitErrorMessage(len(tc.nodes), reasons)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequiredPodAntiAffinity(t *testing.T) {
	db := selecting("app", "db")
	onHost := requiredAnti(term(api.LabelHostname, db))
	runPlaceCases(t, []placeCase{
		{"kept off the node with a matching pod, though it is emptier",
			testPod("db-1", "", "", labelled("app", "db"), onHost),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"no node left: the reason per node",
			testPod("db-2", "", "", labelled("app", "db"), onHost),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("db-1", "", "", onNode("b"), labelled("app", "db"))),
			}, nil, "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."},
		{"pods of other labels do not count",
			testPod("db-1", "", "", labelled("app", "db"), onHost),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("web", "1", "1Gi", onNode("a"), labelled("app", "web"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("web2", "2", "2Gi", onNode("b"), labelled("app", "web"))),
			}, nil, "a"},
		{"a zone term keeps the pod out of the whole zone",
			testPod("db-1", "", "", labelled("app", "db"), requiredAnti(term(api.LabelZone, db))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi", zone("z1")), testPod("db-0", "", "", onNode("a"), labelled("app", "db"))),
				newNodeInfo(testNode("b", "4", "8Gi", zone("z1"))),
				newNodeInfo(testNode("c", "8", "16Gi", zone("z2")), testPod("big", "6", "12Gi", onNode("c"))),
			}, nil, "c"},
		{"a node without the topology key is no domain: it fits",
			testPod("db-1", "", "", labelled("app", "db"), requiredAnti(term(api.LabelZone, db))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi", zone("z1")), testPod("db-0", "", "", onNode("a"), labelled("app", "db"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"only the pod's own namespace by default",
			testPod("db-1", "", "", labelled("app", "db"), onHost),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db"), inNamespace("other"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "a"},
		{"namespaces listed",
			testPod("db-1", "", "", labelled("app", "db"), requiredAnti(term(api.LabelHostname, db, func(t *api.PodAffinityTerm) {
				t.Namespaces = []string{"other"}
			}))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db"), inNamespace("other"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"namespaces selected by their labels",
			testPod("db-1", "", "", labelled("app", "db"), requiredAnti(term(api.LabelHostname, db, func(t *api.PodAffinityTerm) {
				t.NamespaceSelector = selecting("team", "data")
			}))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db"), inNamespace("other"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, namespaceLabels{"other": {"team": "data"}}, "b"},
		{"an empty namespaceSelector selects every namespace",
			testPod("db-1", "", "", labelled("app", "db"), requiredAnti(term(api.LabelHostname, db, func(t *api.PodAffinityTerm) {
				t.NamespaceSelector = &api.LabelSelector{}
			}))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db"), inNamespace("other"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"matchLabelKeys: only pods of the same revision",
			testPod("db-1", "", "", labelled("app", "db", "rev", "2"), requiredAnti(term(api.LabelHostname, db, func(t *api.PodAffinityTerm) {
				t.MatchLabelKeys = []string{"rev"}
			}))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db", "rev", "1"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("db-x", "", "", onNode("b"), labelled("app", "db", "rev", "2"))),
			}, nil, "a"},
	})
}

// An existing pod's required anti-affinity keeps new pods it names out of
// its domain, though they have no rule of their own.
func TestExistingPodsAntiAffinityIsSymmetric(t *testing.T) {
	guard := requiredAnti(term(api.LabelHostname, selecting("app", "web")))
	runPlaceCases(t, []placeCase{
		{"kept off the guarded node, though it is emptier",
			testPod("web-0", "", "", labelled("app", "web")),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db", "", "", onNode("a"), labelled("app", "db"), guard)),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"pods it does not name go there",
			testPod("cache", "", "", labelled("app", "cache")),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db", "", "", onNode("a"), labelled("app", "db"), guard)),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "a"},
		{"the reason",
			testPod("web-0", "", "", labelled("app", "web")),
			[]*nodeInfo{newNodeInfo(testNode("a", "4", "8Gi"), testPod("db", "", "", onNode("a"), labelled("app", "db"), guard))},
			nil, "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."},
		{"the guard's own namespace only",
			testPod("web-0", "", "", labelled("app", "web"), inNamespace("other")),
			[]*nodeInfo{newNodeInfo(testNode("a", "4", "8Gi"), testPod("db", "", "", onNode("a"), labelled("app", "db"), guard))},
			nil, "a"},
	})
}

func TestRequiredPodAffinity(t *testing.T) {
	cache := selecting("app", "cache")
	near := requiredAffinity(term(api.LabelZone, cache))
	runPlaceCases(t, []placeCase{
		{"into the zone of a matching pod, though the other zone is emptier",
			testPod("web", "", "", labelled("app", "web"), near),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi", zone("z1"))),
				newNodeInfo(testNode("b", "4", "8Gi", zone("z2")), testPod("big", "3", "6Gi", onNode("b"))),
				newNodeInfo(testNode("c", "4", "8Gi", zone("z2")), testPod("cache-0", "2", "4Gi", onNode("c"), labelled("app", "cache"))),
			}, nil, "c"},
		{"no matching pod anywhere, and the pod is not one: nowhere",
			testPod("web", "", "", labelled("app", "web"), near),
			[]*nodeInfo{newNodeInfo(testNode("a", "4", "8Gi", zone("z1"))), newNodeInfo(testNode("b", "4", "8Gi", zone("z2")))},
			nil, "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."},
		{"the first of a group that wants itself goes anywhere",
			testPod("cache-0", "", "", labelled("app", "cache"), near),
			[]*nodeInfo{newNodeInfo(testNode("a", "4", "8Gi", zone("z1")), testPod("big", "3", "6Gi", onNode("a"))), newNodeInfo(testNode("b", "4", "8Gi", zone("z2")))},
			nil, "b"},
		{"but not onto a node without the topology key",
			testPod("cache-0", "", "", labelled("app", "cache"), near),
			[]*nodeInfo{newNodeInfo(testNode("a", "4", "8Gi")), newNodeInfo(testNode("b", "4", "8Gi", zone("z2")), testPod("big", "3", "6Gi", onNode("b")))},
			nil, "b"},
		{"every term must hold",
			testPod("web", "", "", labelled("app", "web"), requiredAffinity(term(api.LabelZone, cache), term(api.LabelHostname, selecting("app", "db")))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi", zone("z1")), testPod("cache-0", "", "", onNode("a"), labelled("app", "cache"))),
				newNodeInfo(testNode("b", "4", "8Gi", zone("z1")), testPod("db-0", "", "", onNode("b"), labelled("app", "db"))),
				newNodeInfo(testNode("c", "4", "8Gi", zone("z2")), testPod("db-1", "", "", onNode("c"), labelled("app", "db"))),
			}, nil, "b"},
	})
}

func TestPreferredAffinityScores(t *testing.T) {
	ssd := func(n *api.Node) { n.Labels["disk"] = "ssd" }
	preferSSD := func(w int32) func(*api.Pod) {
		return func(p *api.Pod) {
			p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.PreferredSchedulingTerm{
				{Weight: w, Preference: api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: "disk", Operator: api.OpIn, Values: []string{"ssd"}}}}},
			}}}
		}
	}
	db := selecting("app", "db")
	runPlaceCases(t, []placeCase{
		{"preferred node affinity beats least allocated",
			testPod("p", "", "", preferSSD(10)),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi")),
				newNodeInfo(testNode("b", "4", "8Gi", ssd), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"preferred node affinity beats spreading a controller's pods",
			testPod("p", "", "", preferSSD(1), ownedBy("rs")),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi")),
				newNodeInfo(testNode("b", "4", "8Gi", ssd), testPod("s", "", "", onNode("b"), ownedBy("rs"))),
			}, nil, "b"},
		{"an empty preference term matches nothing",
			testPod("p", "", "", func(p *api.Pod) {
				p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.PreferredSchedulingTerm{{Weight: 50}}}}
			}),
			[]*nodeInfo{newNodeInfo(testNode("a", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("a"))), newNodeInfo(testNode("b", "4", "8Gi"))},
			nil, "b"},
		{"preferred anti-affinity (cockroachdb's): away from a matching pod",
			testPod("db-1", "", "", labelled("app", "db"), preferredAnti(100, term(api.LabelHostname, db))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"preferred anti-affinity still places the pod when every node has one",
			testPod("db-2", "", "", labelled("app", "db"), preferredAnti(100, term(api.LabelHostname, db))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("db-0", "", "", onNode("a"), labelled("app", "db")), testPod("db-1", "", "", onNode("a"), labelled("app", "db"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("db-3", "", "", onNode("b"), labelled("app", "db"))),
			}, nil, "b"},
		{"preferred affinity: next to a matching pod",
			testPod("web", "", "", preferredAffinity(5, term(api.LabelHostname, selecting("app", "cache")))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi")),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("cache", "3", "6Gi", onNode("b"), labelled("app", "cache"))),
			}, nil, "b"},
		{"an existing pod's preferred anti-affinity scores too",
			testPod("web", "", "", labelled("app", "web")),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("loner", "", "", onNode("a"), preferredAnti(10, term(api.LabelHostname, selecting("app", "web"))))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
		{"weights add up: affinity 5 against anti-affinity 20",
			testPod("web", "", "", labelled("app", "web"), podAffinity(
				&api.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: 5, PodAffinityTerm: term(api.LabelHostname, selecting("app", "cache"))}}},
				&api.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: 20, PodAffinityTerm: term(api.LabelHostname, selecting("app", "web"))}}})),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), testPod("cache", "", "", onNode("a"), labelled("app", "cache")), testPod("web-0", "", "", onNode("a"), labelled("app", "web"))),
				newNodeInfo(testNode("b", "4", "8Gi"), testPod("big", "3", "6Gi", onNode("b"))),
			}, nil, "b"},
	})
}

func TestTopologySpread(t *testing.T) {
	web := selecting("app", "web")
	pod := func(mods ...func(*api.Pod)) *api.Pod {
		return testPod("web-new", "", "", append([]func(*api.Pod){labelled("app", "web")}, mods...)...)
	}
	w := func(name, node string) *api.Pod { return testPod(name, "", "", onNode(node), labelled("app", "web")) }
	three := func(a, b, c []*api.Pod) []*nodeInfo {
		return []*nodeInfo{
			newNodeInfo(testNode("a", "4", "8Gi", zone("z1")), a...),
			newNodeInfo(testNode("b", "4", "8Gi", zone("z1")), b...),
			newNodeInfo(testNode("c", "4", "8Gi", zone("z2")), c...),
		}
	}
	two := int32(2)
	three3 := int32(3)
	honor := api.PolicyHonor
	runPlaceCases(t, []placeCase{
		{"DoNotSchedule over zones: the only zone within the skew, though busier",
			pod(spreading(constraint(api.LabelZone, 1, api.DoNotSchedule, web))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w3", "b")}, []*api.Pod{w("w1", "c"), testPod("big", "3", "6Gi", onNode("c"))}),
			nil, "c"},
		{"DoNotSchedule: the node within the skew is full",
			testPod("web-new", "1", "", labelled("app", "web"), spreading(constraint(api.LabelZone, 1, api.DoNotSchedule, web))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w3", "b")}, []*api.Pod{w("w1", "c"), testPod("big", "3500m", "6Gi", onNode("c"))}),
			nil, "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match pod topology spread constraints."},
		{"DoNotSchedule: a node without the key",
			pod(spreading(constraint(api.LabelZone, 1, api.DoNotSchedule, web))),
			[]*nodeInfo{newNodeInfo(testNode("x", "4", "8Gi"))},
			nil, "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label)."},
		{"maxSkew 2 allows the busier zone",
			pod(spreading(constraint(api.LabelZone, 2, api.DoNotSchedule, web))),
			three([]*api.Pod{w("w0", "a")}, nil, []*api.Pod{testPod("big", "3", "6Gi", onNode("c"))}),
			nil, "b"},
		{"over hostnames",
			pod(spreading(constraint(api.LabelHostname, 1, api.DoNotSchedule, web))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w1", "b")}, []*api.Pod{testPod("big", "3", "6Gi", onNode("c"))}),
			nil, "c"},
		{"pods being deleted and of other namespaces do not count",
			pod(spreading(constraint(api.LabelHostname, 1, api.DoNotSchedule, web))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w1", "b"), testPod("gone", "", "", onNode("b"), labelled("app", "web"), func(p *api.Pod) { p.DeletionTimestamp = api.NowPtr() })},
				[]*api.Pod{w("w2", "c"), testPod("elsewhere", "", "", onNode("c"), labelled("app", "web"), inNamespace("other"))}),
			nil, "a"},
		{"minDomains above the domains there are: the least count is 0",
			pod(spreading(constraint(api.LabelZone, 1, api.DoNotSchedule, web, func(c *api.TopologySpreadConstraint) { c.MinDomains = &three3 }))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w3", "b")}, []*api.Pod{w("w1", "c")}),
			nil, "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints."},
		{"minDomains met",
			pod(spreading(constraint(api.LabelZone, 1, api.DoNotSchedule, web, func(c *api.TopologySpreadConstraint) { c.MinDomains = &two }))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w3", "b")}, []*api.Pod{w("w1", "c")}),
			nil, "c"},
		{"nodes the pod's nodeSelector excludes are no domains (nodeAffinityPolicy Honor)",
			pod(spreading(constraint(api.LabelHostname, 1, api.DoNotSchedule, web)), func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{api.LabelZone: "z1"} }),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w1", "b")}, nil),
			nil, "a"},
		{"tainted nodes count as domains unless nodeTaintsPolicy is Honor",
			pod(spreading(constraint(api.LabelHostname, 1, api.DoNotSchedule, web))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), w("w0", "a")),
				newNodeInfo(testNode("t", "4", "8Gi", tainted(api.Taint{Key: "k", Effect: api.TaintNoSchedule}))),
			}, nil, "0/2 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) had untolerated taint {k: }."},
		{"nodeTaintsPolicy Honor",
			pod(spreading(constraint(api.LabelHostname, 1, api.DoNotSchedule, web, func(c *api.TopologySpreadConstraint) { c.NodeTaintsPolicy = &honor }))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi"), w("w0", "a")),
				newNodeInfo(testNode("t", "4", "8Gi", tainted(api.Taint{Key: "k", Effect: api.TaintNoSchedule}))),
			}, nil, "a"},
		{"ScheduleAnyway prefers the emptier domain, though busier",
			pod(spreading(constraint(api.LabelZone, 1, api.ScheduleAnyway, web))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w1", "b")}, []*api.Pod{testPod("big", "3", "6Gi", onNode("c"))}),
			nil, "c"},
		{"ScheduleAnyway places the pod beyond the skew",
			pod(spreading(constraint(api.LabelZone, 1, api.ScheduleAnyway, web))),
			three([]*api.Pod{w("w0", "a")}, []*api.Pod{w("w1", "b")}, []*api.Pod{w("w2", "c"), w("w3", "c"), w("w4", "c")}),
			nil, "a"},
		{"ScheduleAnyway: a node without the key comes last",
			pod(spreading(constraint(api.LabelZone, 1, api.ScheduleAnyway, web))),
			[]*nodeInfo{
				newNodeInfo(testNode("a", "4", "8Gi", zone("z1")), w("w0", "a"), w("w1", "a"), testPod("big", "3", "6Gi", onNode("a"))),
				newNodeInfo(testNode("x", "4", "8Gi")),
			}, nil, "a"},
	})
}

// Pods decided in one pass count at once, bound or not: three replicas
// with required anti-affinity on the hostname land one per node, and a
// fourth stays Pending with the reason; the same for a spread constraint.
func TestSchedulerPlacesAntiAffinePodsApartInOnePass(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, nil)
	anti := requiredAnti(term(api.LabelHostname, selecting("app", "db")))
	var names []string
	for i := range 4 {
		name := fmt.Sprintf("db-%d", i)
		names = append(names, name)
		create(t, store, testPod(name, "", "", ownedBy("rs-db"), labelled("app", "db"), anti))
	}
	rec := startScheduler(t, store)
	var where map[string][]string
	poll.True(t, 5*time.Second, "three bound, one per node", func() (bool, string) {
		var n int
		where, n = placement(t, store, names...)
		return n == 3 && len(where) == 3, fmt.Sprint(where)
	})
	var waiting string
	for _, n := range names {
		if getPod(t, store, n).Spec.NodeName == "" {
			waiting = n
		}
	}
	want := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
	poll.True(t, 5*time.Second, "FailedScheduling naming anti-affinity", func() (bool, string) {
		ev := rec.Find(ReasonFailedScheduling)
		return len(ev) == 1 && ev[0].Name == waiting && ev[0].Message == want, fmt.Sprintf("%+v", ev)
	})
	c := api.FindCondition(getPod(t, store, waiting).Status.Conditions, api.PodScheduled)
	if c == nil || c.Status != api.ConditionFalse || !strings.Contains(c.Message, "anti-affinity") {
		t.Fatalf("PodScheduled: %+v", c)
	}

	// A spread constraint over hostnames, maxSkew 1, in one pass: 2/2/2.
	var web []string
	for i := range 6 {
		name := fmt.Sprintf("web-%d", i)
		web = append(web, name)
		create(t, store, testPod(name, "", "", labelled("app", "web"),
			spreading(constraint(api.LabelHostname, 1, api.DoNotSchedule, selecting("app", "web")))))
	}
	where = waitBound(t, store, web...)
	for _, node := range []string{"a", "b", "c"} {
		if len(where[node]) != 2 {
			t.Fatalf("not 2 per node: %v", where)
		}
	}

	// A per-node cap, as compose's max_replicas_per_node 2 makes it
	// (maxSkew 2, minDomains beyond any cluster): 7 pods, 2 per node, the
	// seventh Pending.
	capped := func(c *api.TopologySpreadConstraint) { c.MinDomains = api.Int32(math.MaxInt32) }
	var api7 []string
	for i := range 7 {
		name := fmt.Sprintf("api-%d", i)
		api7 = append(api7, name)
		create(t, store, testPod(name, "", "", labelled("app", "api"),
			spreading(constraint(api.LabelHostname, 2, api.DoNotSchedule, selecting("app", "api"), capped))))
	}
	poll.True(t, 5*time.Second, "six bound, two per node, one waiting", func() (bool, string) {
		where, n := placement(t, store, api7...)
		ok := n == 6 && len(where) == 3
		for _, pods := range where {
			ok = ok && len(pods) == 2
		}
		return ok, fmt.Sprint(where)
	})
	time.Sleep(200 * time.Millisecond)
	if _, n := placement(t, store, api7...); n != 6 {
		t.Fatalf("%d of 7 bound past the cap of 2 per node on 3 nodes", n)
	}
}

// BenchmarkPickNode measures one decision on 100 nodes holding 1,000 pods
// of 10 controllers: for a pod without placement rules, for one with
// required anti-affinity on the hostname, and for one with a
// DoNotSchedule spread constraint; "affine cluster" is a pod without
// rules among pods that all have anti-affinity terms (the symmetric check).
func BenchmarkPickNode(b *testing.B) {
	build := func(podMods ...func(*api.Pod)) []*nodeInfo {
		nodes := make([]*nodeInfo, 100)
		for i := range nodes {
			nodes[i] = newNodeInfo(testNode(fmt.Sprintf("node-%03d", i), "64", "256Gi"))
		}
		for i := range 1000 {
			mods := append([]func(*api.Pod){onNode(nodes[i%100].node.Name), ownedBy(fmt.Sprintf("rs-%d", i%10)),
				labelled("app", fmt.Sprintf("app-%d", i%10))}, podMods...)
			nodes[i%100].addPod(testPod(fmt.Sprintf("pod-%04d", i), "10m", "16Mi", mods...))
		}
		return nodes
	}
	anti := requiredAnti(term(api.LabelHostname, selecting("app", "app-3")))
	cases := []struct {
		name  string
		pod   *api.Pod
		nodes []*nodeInfo
	}{
		{"plain", testPod("new", "10m", "16Mi", ownedBy("rs-3"), labelled("app", "app-3")), build()},
		{"anti-affinity", testPod("new", "10m", "16Mi", ownedBy("rs-3"), labelled("app", "app-3"), anti), build()},
		{"spread", testPod("new", "10m", "16Mi", ownedBy("rs-3"), labelled("app", "app-3"),
			spreading(constraint(api.LabelHostname, 1, api.DoNotSchedule, selecting("app", "app-3")))), build()},
		{"affine cluster", testPod("new", "10m", "16Mi", ownedBy("rs-3"), labelled("app", "app-3")),
			build(requiredAnti(term(api.LabelHostname, selecting("app", "other"))))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if best, _ := pickNode(tc.pod, tc.nodes, "", nil); best == nil {
					b.Fatal("no node")
				}
			}
		})
	}
}

// The scheduler follows namespace labels: a namespaceSelector names the
// pods of a namespace once it carries the label, and a pod kept out by
// them is placed when the label goes.
func TestSchedulerFollowsNamespaceLabelsForNamespaceSelectors(t *testing.T) {
	store := newTestStore(t)
	create(t, store, testNode("a", "4", "8Gi"))
	create(t, store, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "data", Labels: map[string]string{"team": "data"}}})
	create(t, store, testPod("db", "", "", inNamespace("data"), labelled("app", "db"), onNode("a")))
	startScheduler(t, store)
	create(t, store, testPod("web", "", "", requiredAnti(term(api.LabelHostname, selecting("app", "db"), func(t *api.PodAffinityTerm) {
		t.NamespaceSelector = selecting("team", "data")
	}))))
	poll.True(t, 5*time.Second, "web kept off a by the pod of namespace data", func() (bool, string) {
		c := api.FindCondition(getPod(t, store, "web").Status.Conditions, api.PodScheduled)
		return c != nil && c.Message == "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.", fmt.Sprintf("%+v", c)
	})
	o, err := store.Get(t.Context(), api.KindNamespace, "", "data")
	if err != nil {
		t.Fatal(err)
	}
	ns := o.(*api.Namespace)
	ns.Labels = map[string]string{"team": "other"}
	if _, err := store.Update(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	waitBound(t, store, "web")
}
