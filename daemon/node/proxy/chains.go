package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"slices"
	"strings"
)

// The proxier's chains. Other parts of shoal have SHOAL-* chains too (pod
// networking's SHOAL-POSTROUTING and SHOAL-FORWARD): the proxier deletes
// and cleans up only the chains OwnsChain reports, never the others.
const (
	chainServices  = "SHOAL-SERVICES"      // nat and filter: the entry from the built-in chains
	chainNodePorts = "SHOAL-NODEPORTS"     // nat: node ports, for local destinations
	chainMasq      = "SHOAL-MASQUERADE"    // nat, from POSTROUTING: masquerade what was marked
	chainMarkMasq  = "SHOAL-MARK-MASQ"     // nat: set the masquerade mark
	chainForward   = "SHOAL-PROXY-FORWARD" // filter: let service traffic be forwarded
	svcChainPrefix = "SHOAL-SVC-"
	sepChainPrefix = "SHOAL-SEP-"
)

// OwnsChain reports whether a chain is one the proxier writes.
func OwnsChain(name string) bool {
	switch name {
	case chainServices, chainNodePorts, chainMasq, chainMarkMasq, chainForward:
		return true
	}
	return strings.HasPrefix(name, svcChainPrefix) || strings.HasPrefix(name, sepChainPrefix)
}

// Tables the proxier writes, in the order it applies them: the filter table
// first, so that a service losing its last endpoint rejects before its DNAT
// rules go.
const (
	TableFilter = "filter"
	TableNAT    = "nat"
)

// svcChain names the chain of a service port: a hash, since names are limited
// to 28 characters; the comment in each rule says which service it is.
func svcChain(sp *servicePort) string {
	return svcChainPrefix + hash(sp.name, sp.proto)
}

// sepChain names the chain of one endpoint of a service port.
func sepChain(sp *servicePort, ep endpoint) string {
	return sepChainPrefix + hash(sp.name, sp.proto, ep.String())
}

// hash is 16 base32 characters of the SHA-256 of the parts, as kube-proxy
// names its chains.
func hash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// table collects the chains of one table and the rules of each, in order.
type table struct {
	name   string
	chains []string          // in the order declared
	rules  map[string][]byte // chain -> its "-A" lines
	nrules int
}

func newTable(name string) *table { return &table{name: name, rules: map[string][]byte{}} }

// chain declares a chain: ":NAME - [0:0]" creates it or, with --noflush,
// flushes it, so a chain written is rewritten whole.
func (t *table) chain(name string) { t.chains = append(t.chains, name) }

// rule appends "-A chain args...". Arguments are written as they are:
// callers quote comments.
func (t *table) rule(chain string, args ...string) {
	b := t.rules[chain]
	b = append(b, "-A "...)
	b = append(b, chain...)
	for _, a := range args {
		b = append(b, ' ')
		b = append(b, a...)
	}
	t.rules[chain] = append(b, '\n')
	t.nrules++
}

// render is the restore input that writes every chain of the table.
func (t *table) render() []byte { return t.renderChanged(nil, nil) }

// renderChanged is the restore input that rewrites only the chains whose
// rules differ from prev (nil: all of them), and flushes and deletes the
// stale chains. The chains it leaves out keep their rules in the kernel
// (--noflush): a chain that jumps to a new or deleted chain has changed
// itself, so references stay whole. It returns nil when nothing changed.
func (t *table) renderChanged(prev map[string][]byte, stale []string) []byte {
	var b bytes.Buffer
	var write []string
	for _, c := range t.chains {
		if old, ok := prev[c]; prev == nil || !ok || !bytes.Equal(old, t.rules[c]) {
			write = append(write, c)
		}
	}
	if prev != nil && len(write) == 0 && len(stale) == 0 {
		return nil
	}
	b.WriteString("*" + t.name + "\n")
	for _, c := range write {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	for _, c := range stale {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	for _, c := range write {
		b.Write(t.rules[c])
	}
	for _, c := range stale {
		b.WriteString("-X " + c + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// comment quotes a rule comment; names in it are DNS labels, so there is
// nothing to escape.
func comment(s string) string { return `"` + s + `"` }

// chainRules maps every chain of the table to its rules, empty chains
// included, to compare the next sync with.
func (t *table) chainRules() map[string][]byte {
	m := make(map[string][]byte, len(t.chains))
	for _, c := range t.chains {
		m[c] = t.rules[c]
	}
	return m
}

// staleChains are the chains of existing the table no longer has, sorted.
func (t *table) staleChains(existing []string) []string {
	keep := make(map[string]bool, len(t.chains))
	for _, c := range t.chains {
		keep[c] = true
	}
	var stale []string
	for _, c := range existing {
		if !keep[c] {
			stale = append(stale, c)
		}
	}
	slices.Sort(stale)
	return slices.Compact(stale)
}
