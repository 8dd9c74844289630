package scheduler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// score is how good a feasible node is for a pod, compared field by field:
// a higher preference, then lower values of the others, are better.
type score struct {
	preference int64   // weights of the preferred node and pod affinity terms that hold: higher first
	spread     int64   // matching pods in the node's domains of ScheduleAnyway spread constraints
	siblings   int     // pods of the same controller already there: spread them
	allocated  float64 // share of CPU and memory requested with this pod: least allocated first
	name       string  // a deterministic tie-break
}

func (a score) better(b score) bool {
	if a.preference != b.preference {
		return a.preference > b.preference
	}
	if a.spread != b.spread {
		return a.spread < b.spread
	}
	if a.siblings != b.siblings {
		return a.siblings < b.siblings
	}
	if a.allocated != b.allocated {
		return a.allocated < b.allocated
	}
	return a.name < b.name
}

// scoreNode scores a node that fits the pod.
func scoreNode(p *api.Pod, req *podRequest, n *nodeInfo) score {
	return score{preference: api.PreferredNodeAffinityScore(&p.Spec, n.node) + podAffinityScore(req, n),
		spread: topologySpreadScore(req, n), siblings: siblings(p, req, n), allocated: allocatedShare(req, n), name: n.node.Name}
}

// siblings counts the node's pods that have the pod's controller, leaving
// out pods on their way out (the node's sums keep the count per controller).
func siblings(p *api.Pod, req *podRequest, n *nodeInfo) int {
	if req.owner == "" {
		return 0
	}
	count := n.owners[req.owner]
	if uid, ok := n.bykey[req.key]; ok && uid == req.owner && n.pods[req.key].UID == p.UID {
		count-- // the pod itself
	}
	return count
}

// allocatedShare is the mean of the CPU and memory shares of the node's
// allocatable that its pods and this one request (with the scoring
// defaults, so that pods asking nothing still spread). A resource the node
// does not report counts as full.
func allocatedShare(req *podRequest, n *nodeInfo) float64 {
	share := func(used, total int64) float64 {
		if total <= 0 {
			return 1
		}
		return float64(used) / float64(total)
	}
	cpu, _ := n.allocatable(api.ResourceCPU)
	mem, _ := n.allocatable(api.ResourceMemory)
	return (share(n.nonzero.milliCPU+req.nonzero.milliCPU, cpu.MilliValue()) +
		share(n.nonzero.memory+req.nonzero.memory, mem.Value())) / 2
}

// pickNode filters the nodes and returns the best that fits, or nil and the
// count of nodes per reason they did not fit. A pinned node (that of the
// pod's claims) is the only one that may fit. nl gives the namespaces'
// labels, for the namespaceSelector of pod affinity terms.
func pickNode(p *api.Pod, nodes []*nodeInfo, pinned string, nl namespaceLabels) (*nodeInfo, map[string]int) {
	req := computeRequest(p)
	req.key = podKey(p)
	if ref := p.ControllerRef(); ref != nil {
		req.owner = ref.UID
	}
	req.interPod = newInterPod(p, nodes, nl)
	req.spread = newSpreadState(p, nodes)
	var best *nodeInfo
	var bestScore score
	reasons := map[string]int{}
	for _, n := range nodes {
		if pinned != "" && n.node.Name != pinned {
			reasons[reasonClaimNode]++
			continue
		}
		if why := fits(p, &req, n); len(why) > 0 {
			for _, r := range why {
				reasons[r]++
			}
			continue
		}
		if s := scoreNode(p, &req, n); best == nil || s.better(bestScore) {
			best, bestScore = n, s
		}
	}
	return best, reasons
}

// fitErrorMessage says why no node fits, as the Kubernetes scheduler says
// it: "0/3 nodes are available: 1 node(s) didn't match Pod's node
// affinity/selector, 2 Insufficient memory."
func fitErrorMessage(total int, reasons map[string]int) string {
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return fmt.Sprintf("0/%d nodes are available.", total)
	}
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}
