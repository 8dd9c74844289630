package enginetest

import "strings"

// Call is one recorded call of an engine method, with its main arguments as
// text: a container id, an image ref, a network name, and so on.
type Call struct {
	Method string
	Args   []string
}

func (c Call) String() string {
	if len(c.Args) == 0 {
		return c.Method
	}
	return c.Method + " " + strings.Join(c.Args, " ")
}

func (f *Fake) record(method string, args ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Method: method, Args: args})
}

// Calls returns every call made so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, len(f.calls))
	copy(out, f.calls)
	return out
}

// CallCount returns how many times method (for example "StartContainer")
// was called.
func (f *Fake) CallCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// ResetCalls forgets the calls recorded so far.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}
