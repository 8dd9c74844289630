package api

import "slices"

// ToleratesTaint is Kubernetes' Toleration.ToleratesTaint: an empty effect
// matches every effect, an empty key with Exists matches every key, Exists
// ignores the value and Equal (or no operator) compares it.
func (tol *Toleration) ToleratesTaint(t *Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case "", "Equal":
		return tol.Value == t.Value
	case "Exists":
		return true
	}
	return false
}

// UntoleratedTaint returns the first taint with one of the effects that no
// toleration tolerates, or nil.
func UntoleratedTaint(taints []Taint, tols []Toleration, effects ...string) *Taint {
	for i := range taints {
		t := &taints[i]
		if !slices.Contains(effects, t.Effect) {
			continue
		}
		tolerated := false
		for j := range tols {
			if tols[j].ToleratesTaint(t) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return t
		}
	}
	return nil
}

// ToleratesForever reports whether the tolerations keep a pod on a node
// with the NoExecute taint key for good: a matching toleration without
// tolerationSeconds.
func ToleratesForever(tols []Toleration, key string) bool {
	t := Taint{Key: key, Effect: TaintNoExecute}
	for i := range tols {
		if tols[i].TolerationSeconds == nil && (tols[i].Operator == "Exists" || tols[i].Key != "") && tols[i].ToleratesTaint(&t) {
			return true
		}
	}
	return false
}
