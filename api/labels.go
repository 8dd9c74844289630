package api

import (
	"fmt"
	"sort"
	"strings"
)

// LabelSelector is the structured selector of workloads.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one set-based requirement.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Selector operators.
const (
	OpIn           = "In"
	OpNotIn        = "NotIn"
	OpExists       = "Exists"
	OpDoesNotExist = "DoesNotExist"
	opEquals       = "="
	opNotEquals    = "!="
)

// Requirement is one parsed clause of a selector.
type Requirement struct {
	Key      string
	Operator string
	Values   []string
}

// Selector is a parsed label selector: every requirement must hold. The empty
// selector matches everything.
type Selector []Requirement

// Matches reports whether the labels satisfy every requirement.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		v, has := labels[r.Key]
		switch r.Operator {
		case opEquals, OpIn:
			if !has || !contains(r.Values, v) {
				return false
			}
		case opNotEquals, OpNotIn:
			if has && contains(r.Values, v) {
				return false
			}
		case OpExists:
			if !has {
				return false
			}
		case OpDoesNotExist:
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Empty reports whether the selector has no requirement (and so matches all).
func (s Selector) Empty() bool { return len(s) == 0 }

// String renders the selector in the query-string syntax.
func (s Selector) String() string {
	parts := make([]string, 0, len(s))
	for _, r := range s {
		switch r.Operator {
		case opEquals, opNotEquals:
			parts = append(parts, r.Key+r.Operator+r.Values[0])
		case OpIn, OpNotIn:
			parts = append(parts, fmt.Sprintf("%s %s (%s)", r.Key, strings.ToLower(r.Operator), strings.Join(r.Values, ",")))
		case OpExists:
			parts = append(parts, r.Key)
		case OpDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	return strings.Join(parts, ",")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// SelectorFromSet makes an equality selector from a label map.
func SelectorFromSet(set map[string]string) Selector {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sel := make(Selector, 0, len(keys))
	for _, k := range keys {
		sel = append(sel, Requirement{Key: k, Operator: opEquals, Values: []string{set[k]}})
	}
	return sel
}

// AsSelector converts the structured selector. A nil LabelSelector selects
// nothing in Kubernetes; callers check for nil before.
func (ls *LabelSelector) AsSelector() (Selector, error) {
	if ls == nil {
		return nil, nil
	}
	sel := SelectorFromSet(ls.MatchLabels)
	for i, e := range ls.MatchExpressions {
		switch e.Operator {
		case OpIn, OpNotIn:
			if len(e.Values) == 0 {
				return nil, fmt.Errorf("matchExpressions[%d].values: must be non-empty for operator %s", i, e.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(e.Values) > 0 {
				return nil, fmt.Errorf("matchExpressions[%d].values: must be empty for operator %s", i, e.Operator)
			}
		default:
			return nil, fmt.Errorf("matchExpressions[%d].operator: %q is not one of In, NotIn, Exists, DoesNotExist", i, e.Operator)
		}
		sel = append(sel, Requirement{Key: e.Key, Operator: e.Operator, Values: append([]string(nil), e.Values...)})
	}
	return sel, nil
}

// String renders the structured selector in query-string syntax.
func (ls *LabelSelector) String() string {
	s, err := ls.AsSelector()
	if err != nil {
		return "<invalid>"
	}
	return s.String()
}

// ParseSelector parses the query-string selector syntax of kubectl -l:
// "a=b,c!=d,e in (x,y),f notin (z),g,!h" ("==" is accepted for "=").
func ParseSelector(text string) (Selector, error) {
	p := selectorParser{s: text}
	var sel Selector
	p.skipSpace()
	if p.done() {
		return nil, nil
	}
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, fmt.Errorf("label selector %q: %w", text, err)
		}
		sel = append(sel, r)
		p.skipSpace()
		if p.done() {
			return sel, nil
		}
		if !p.eat(",") {
			return nil, fmt.Errorf("label selector %q: expected ',' at position %d", text, p.i)
		}
	}
}

type selectorParser struct {
	s string
	i int
}

func (p *selectorParser) done() bool { return p.i >= len(p.s) }

func (p *selectorParser) skipSpace() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *selectorParser) eat(tok string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func isLabelChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '/'
}

func (p *selectorParser) word() string {
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) && isLabelChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *selectorParser) requirement() (Requirement, error) {
	if p.eat("!") {
		k := p.word()
		if k == "" {
			return Requirement{}, fmt.Errorf("expected a key after '!'")
		}
		return Requirement{Key: k, Operator: OpDoesNotExist}, validateLabelKey(k)
	}
	k := p.word()
	if k == "" {
		return Requirement{}, fmt.Errorf("expected a label key at position %d", p.i)
	}
	if err := validateLabelKey(k); err != nil {
		return Requirement{}, err
	}
	switch {
	case p.eat("!="):
		return Requirement{Key: k, Operator: opNotEquals, Values: []string{p.word()}}, nil
	case p.eat("=="), p.eat("="):
		return Requirement{Key: k, Operator: opEquals, Values: []string{p.word()}}, nil
	}
	save := p.i
	op := p.word()
	switch op {
	case "in", "notin":
		if !p.eat("(") {
			return Requirement{}, fmt.Errorf("expected '(' after %q", op)
		}
		var vals []string
		for {
			vals = append(vals, p.word())
			if p.eat(")") {
				break
			}
			if !p.eat(",") {
				return Requirement{}, fmt.Errorf("expected ',' or ')' in the values of %q", k)
			}
		}
		o := OpIn
		if op == "notin" {
			o = OpNotIn
		}
		return Requirement{Key: k, Operator: o, Values: vals}, nil
	}
	p.i = save
	return Requirement{Key: k, Operator: OpExists}, nil
}

func validateLabelKey(k string) error {
	if errs := IsQualifiedName(k); len(errs) > 0 {
		return fmt.Errorf("key %q: %s", k, errs[0])
	}
	return nil
}
