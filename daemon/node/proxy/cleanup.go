package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
)

// Cleanup removes the proxier's chains and every rule that jumps to one, in
// both tables, whoever wrote them: for a node leaving the cluster and for
// tests. Other SHOAL-* chains (pod networking's) stay. One atomic restore
// per table that has any.
func Cleanup(ctx context.Context, k Kernel) error {
	for _, t := range []string{TableFilter, TableNAT} {
		saved, err := k.Save(ctx, t)
		if err != nil {
			return fmt.Errorf("proxy: cleanup: %w", err)
		}
		chains, refs := parseSaved(saved)
		if len(chains) == 0 && len(refs) == 0 {
			continue
		}
		var b bytes.Buffer
		b.WriteString("*" + t + "\n")
		for _, c := range chains {
			b.WriteString(":" + c + " - [0:0]\n")
		}
		for _, r := range refs {
			b.WriteString("-D " + r + "\n")
		}
		for _, c := range chains {
			b.WriteString("-X " + c + "\n")
		}
		b.WriteString("COMMIT\n")
		if err := k.Restore(ctx, b.Bytes()); err != nil {
			return fmt.Errorf("proxy: cleanup %s table: %w", t, err)
		}
	}
	return nil
}

// shoalChains lists the proxier's chains in an iptables-save output.
func shoalChains(saved []byte) []string {
	chains, _ := parseSaved(saved)
	return chains
}

// parseSaved reads an iptables-save output: the proxier's chains, and the
// rules of other chains that jump to one ("CHAIN args...", without "-A").
func parseSaved(saved []byte) (chains, refs []string) {
	sc := bufio.NewScanner(bytes.NewReader(saved))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
			if name, _, _ := strings.Cut(line[1:], " "); OwnsChain(name) {
				chains = append(chains, name)
			}
		case strings.HasPrefix(line, "-A "):
			chain, _, _ := strings.Cut(line[3:], " ")
			if !OwnsChain(chain) && OwnsChain(target(line)) {
				refs = append(refs, line[3:])
			}
		}
	}
	return chains, refs
}

// target is the chain a rule jumps or goes to: its last -j or -g, since
// matches and comments come first.
func target(rule string) string {
	f := strings.Fields(rule)
	for i := len(f) - 2; i >= 0; i-- {
		if f[i] == "-j" || f[i] == "-g" {
			return f[i+1]
		}
	}
	return ""
}
