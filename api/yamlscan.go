package api

import (
	"errors"
	"fmt"
	"net/http"

	yaml3 "go.yaml.in/yaml/v3"
)

// A YAML alias repeats the node its anchor names; a few bytes of aliases
// can stand for gigabytes ("billion laughs", or one large string repeated a
// thousand times). The YAML to JSON conversion expands every alias, so the
// size of what a document expands to is measured first, on a parse that
// keeps aliases as references, and a document that would expand past the
// limits is refused before anything is expanded.

// mayHaveAlias reports whether doc may hold an alias: a '*' at a place where
// a node can start. It errs on the side of yes (a '*' in a cron schedule
// answers yes); only a no skips the measurement.
func mayHaveAlias(doc []byte) bool {
	for i, c := range doc {
		if c != '*' {
			continue
		}
		if i == 0 {
			return true
		}
		switch p := doc[i-1]; {
		case p >= 'a' && p <= 'z', p >= 'A' && p <= 'Z', p >= '0' && p <= '9':
		case p == '"', p == '\'', p == '/', p == '*', p == '.', p == '_', p == '-':
			// Inside a scalar: an alias starts a node, after white space or
			// a flow indicator.
		default:
			return true
		}
	}
	return false
}

// expansion is the measured size of a node with its aliases expanded.
type expansion struct {
	bytes  int64 // about the length of its JSON form
	nodes  int64
	height int // levels of collections below and including it
}

type aliasMeter struct {
	lim        DecodeLimits
	done       map[*yaml3.Node]expansion // anchored nodes already measured
	inProgress map[*yaml3.Node]bool
	aliasNodes int64 // nodes added by expanding aliases
	aliasBytes int64 // bytes added by expanding aliases
	docBytes   int64
}

var errExpansion = errors.New("expansion over the limit")

// checkYAMLExpansion refuses a YAML document whose aliases would expand it
// past lim (bytes, added nodes) or whose nesting is deeper than lim.MaxDepth.
// A document without aliases passes without being parsed here.
func checkYAMLExpansion(doc []byte, lim DecodeLimits) (err error) {
	if !mayHaveAlias(doc) {
		return nil
	}
	defer func() {
		// The parser is third-party code fed with anything: a panic in it
		// must not take the agent down.
		if p := recover(); p != nil {
			err = NewBadRequest(fmt.Sprintf("invalid YAML: %v", p))
		}
	}()
	var root yaml3.Node
	if err := yaml3.Unmarshal(doc, &root); err != nil {
		return NewBadRequest(fmt.Sprintf("invalid YAML: %v", err))
	}
	m := &aliasMeter{lim: lim, done: map[*yaml3.Node]expansion{}, inProgress: map[*yaml3.Node]bool{}, docBytes: int64(len(doc))}
	_, err = m.measure(&root, 0)
	return err
}

func (m *aliasMeter) aliasError() error {
	return newStatusError(http.StatusRequestEntityTooLarge, ReasonTooLarge, fmt.Sprintf(
		"YAML aliases expand the document past the limit (%d bytes, or %d nodes added by aliases); write the repeated parts out, or use fewer aliases",
		m.lim.MaxDocumentBytes, m.lim.MaxAliasNodes), nil)
}

// measure sizes n at the given depth. Every anchored node is measured once;
// an alias adds its anchor's size again, so the work is linear in the
// document while the sizes are those of the expanded document.
func (m *aliasMeter) measure(n *yaml3.Node, depth int) (expansion, error) {
	if n.Kind == yaml3.AliasNode {
		target := n.Alias
		if target == nil {
			return expansion{}, NewBadRequest(fmt.Sprintf("invalid YAML: unknown anchor %q", n.Value))
		}
		e, err := m.measureAnchored(target, depth)
		if err != nil {
			return e, err
		}
		// The document as sent, plus what every alias adds, must stay
		// within the limits.
		m.aliasNodes += e.nodes
		m.aliasBytes += e.bytes
		if m.aliasNodes > int64(m.lim.MaxAliasNodes) || m.docBytes+m.aliasBytes > int64(m.lim.MaxDocumentBytes) {
			return e, m.aliasError()
		}
		return e, nil
	}
	if n.Anchor != "" {
		return m.measureAnchored(n, depth)
	}
	return m.measureNode(n, depth)
}

func (m *aliasMeter) measureAnchored(n *yaml3.Node, depth int) (expansion, error) {
	e, ok := m.done[n]
	if !ok {
		if m.inProgress[n] {
			return e, NewBadRequest(fmt.Sprintf("invalid YAML: the anchor %q contains an alias of itself", n.Anchor))
		}
		m.inProgress[n] = true
		var err error
		if e, err = m.measureNode(n, 0); err != nil {
			return e, err
		}
		delete(m.inProgress, n)
		m.done[n] = e
	}
	if depth+e.height > m.lim.MaxDepth {
		return e, nestingError(m.lim.MaxDepth)
	}
	return e, nil
}

func nestingError(max int) error {
	return NewBadRequest(fmt.Sprintf("objects and arrays nest more than %d levels deep; no object needs that, flatten the document", max))
}

func (m *aliasMeter) measureNode(n *yaml3.Node, depth int) (expansion, error) {
	e := expansion{nodes: 1}
	switch n.Kind {
	case yaml3.DocumentNode:
		if len(n.Content) == 0 {
			return expansion{}, nil
		}
		return m.measure(n.Content[0], depth)
	case yaml3.ScalarNode:
		e.bytes = int64(len(n.Value)) + 3 // quotes and a separator
		return e, nil
	case yaml3.MappingNode, yaml3.SequenceNode:
		if depth+1 > m.lim.MaxDepth {
			return e, nestingError(m.lim.MaxDepth)
		}
		e.bytes, e.height = 3, 1
	}
	for _, c := range n.Content {
		ce, err := m.measure(c, depth+1)
		if err != nil {
			return e, err
		}
		// Sizes saturate just past the limits: nested aliases can stand
		// for more than an int64 holds, and past the limit is past it.
		e.bytes = min(e.bytes+ce.bytes, int64(m.lim.MaxDocumentBytes)+1)
		e.nodes = min(e.nodes+ce.nodes, int64(m.lim.MaxAliasNodes)+1)
		e.height = max(e.height, ce.height+1)
	}
	return e, nil
}
