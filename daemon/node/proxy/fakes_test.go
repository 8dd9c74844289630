package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// fakeKernel keeps tables of chains and rules as iptables would, from the
// restore inputs and iptables calls it is given, and records every call.
type fakeKernel struct {
	mu        sync.Mutex
	tables    map[string]map[string][]string // table -> chain -> rules (without "-A chain")
	restores  []string
	conntrack [][]string
	iptables  [][]string
	// RestoreFn, when set, runs first; an error fails the restore.
	RestoreFn func(data []byte) error
	// NoConntrack makes Conntrack answer ErrNoConntrack.
	NoConntrack bool
}

var _ Kernel = (*fakeKernel)(nil)

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{tables: map[string]map[string][]string{}}
	for t, builtin := range map[string][]string{
		TableNAT:    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
		TableFilter: {"INPUT", "FORWARD", "OUTPUT"},
	} {
		k.tables[t] = map[string][]string{}
		for _, c := range builtin {
			k.tables[t][c] = nil
		}
	}
	return k
}

func (k *fakeKernel) Restore(_ context.Context, data []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.RestoreFn != nil {
		if err := k.RestoreFn(data); err != nil {
			return err
		}
	}
	k.restores = append(k.restores, string(data))
	var tab map[string][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			tab = k.tables[line[1:]]
		case line == "COMMIT":
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			tab[name] = []string{}
		case strings.HasPrefix(line, "-A "):
			c, rule, _ := strings.Cut(line[3:], " ")
			if _, ok := tab[c]; !ok {
				return &CommandError{Args: []string{"iptables-restore"}, ExitCode: 1, Err: fmt.Errorf("no chain %s", c)}
			}
			tab[c] = append(tab[c], rule)
		case strings.HasPrefix(line, "-D "):
			c, rule, _ := strings.Cut(line[3:], " ")
			i := slices.Index(tab[c], rule)
			if i < 0 {
				return &CommandError{Args: []string{"iptables-restore"}, ExitCode: 1, Err: fmt.Errorf("no rule %q", line)}
			}
			tab[c] = slices.Delete(tab[c], i, i+1)
		case strings.HasPrefix(line, "-X "):
			delete(tab, line[3:])
		default:
			return fmt.Errorf("fake kernel: cannot parse %q", line)
		}
	}
	return nil
}

func (k *fakeKernel) Save(_ context.Context, table string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	b.WriteString("*" + table + "\n")
	chains := k.chainsLocked(table)
	for _, c := range chains {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	for _, c := range chains {
		for _, r := range k.tables[table][c] {
			b.WriteString("-A " + c + " " + r + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String()), nil
}

func (k *fakeKernel) Iptables(_ context.Context, args ...string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.iptables = append(k.iptables, args)
	if len(args) < 4 || args[0] != "-t" {
		return fmt.Errorf("fake kernel: unexpected iptables %v", args)
	}
	tab, op, chain, rest := k.tables[args[1]], args[2], args[3], args[4:]
	switch op {
	case "-C":
		if !slices.Contains(tab[chain], strings.Join(rest, " ")) {
			return &CommandError{Args: args, ExitCode: 1, Err: fmt.Errorf("bad rule")}
		}
	case "-I":
		pos, err := strconv.Atoi(rest[0])
		if err != nil || pos < 1 || pos > len(tab[chain])+1 {
			return &CommandError{Args: args, ExitCode: 1, Err: fmt.Errorf("bad position %q", rest[0])}
		}
		tab[chain] = slices.Insert(tab[chain], pos-1, strings.Join(rest[1:], " "))
	default:
		return fmt.Errorf("fake kernel: unexpected iptables %v", args)
	}
	return nil
}

func (k *fakeKernel) Conntrack(_ context.Context, args ...string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.NoConntrack {
		return ErrNoConntrack
	}
	k.conntrack = append(k.conntrack, args)
	return &CommandError{Args: args, ExitCode: 1, Err: fmt.Errorf("0 flow entries have been deleted")}
}

func (k *fakeKernel) chainsLocked(table string) []string {
	var out []string
	for c := range k.tables[table] {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// shoalChains lists the proxier's chains of a table.
func (k *fakeKernel) shoalChains(table string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, c := range k.chainsLocked(table) {
		if OwnsChain(c) {
			out = append(out, c)
		}
	}
	return out
}

// rules returns the rules of a chain.
func (k *fakeKernel) rules(table, chain string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.tables[table][chain])
}

func (k *fakeKernel) restoreCalls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.restores)
}

func (k *fakeKernel) iptablesCalls() [][]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.iptables)
}

func (k *fakeKernel) conntrackCalls() [][]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.conntrack)
}

// fakeSource is an object store with List and Watch: a watch from a list's
// version sees every change after it.
type fakeSource struct {
	mu       sync.Mutex
	objs     map[string]api.Object // "Kind/ns/name"
	rv       int
	history  []fakeEvent // every event, so a watch from a version replays what came after it
	watches  []*fakeWatch
	lists    map[string]int // per kind
	ListErrs map[string]int // fail the next n lists of a kind
}

type fakeEvent struct {
	rv int
	ev api.WatchEvent
}

type fakeWatch struct {
	kind   string
	ch     chan api.WatchEvent
	closed bool
}

var _ Source = (*fakeSource)(nil)

func newFakeSource(objs ...api.Object) *fakeSource {
	s := &fakeSource{objs: map[string]api.Object{}, lists: map[string]int{}, ListErrs: map[string]int{}}
	for _, o := range objs {
		s.Set(o)
	}
	return s
}

func objKey(o api.Object) string {
	m := o.GetObjectMeta()
	return api.KindOf(o).Kind + "/" + m.Namespace + "/" + m.Name
}

func (s *fakeSource) List(_ context.Context, k *api.Kind, _ string, _ api.Selector) ([]api.Object, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[k.Kind]++
	if s.ListErrs[k.Kind] > 0 {
		s.ListErrs[k.Kind]--
		return nil, "", fmt.Errorf("fake source: list %s fails", k.Kind)
	}
	var out []api.Object
	for key, o := range s.objs {
		if strings.HasPrefix(key, k.Kind+"/") {
			out = append(out, o)
		}
	}
	return out, fmt.Sprint(s.rv), nil
}

func (s *fakeSource) Watch(ctx context.Context, k *api.Kind, _ string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &fakeWatch{kind: k.Kind, ch: make(chan api.WatchEvent, 100000)}
	// Like the store: changes made after the listed version and before
	// the watch opened are sent first, so none falls between the two.
	if from, err := strconv.Atoi(opts.ResourceVersion); err == nil {
		for _, h := range s.history {
			if h.rv > from && api.KindOf(h.ev.Object).Kind == k.Kind {
				w.ch <- h.ev
			}
		}
	}
	s.watches = append(s.watches, w)
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closeLocked(w)
	}()
	return w.ch, nil
}

func (s *fakeSource) closeLocked(w *fakeWatch) {
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	s.watches = slices.DeleteFunc(s.watches, func(x *fakeWatch) bool { return x == w })
}

// Set adds or replaces an object.
func (s *fakeSource) Set(o api.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	typ := api.Added
	if _, ok := s.objs[objKey(o)]; ok {
		typ = api.Modified
	}
	s.objs[objKey(o)] = o
	s.notifyLocked(api.WatchEvent{Type: typ, Object: o})
}

// Delete removes an object.
func (s *fakeSource) Delete(o api.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs, objKey(o))
	s.notifyLocked(api.WatchEvent{Type: api.Deleted, Object: o})
}

// Watching is how many watches are open.
func (s *fakeSource) Watching() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watches)
}

// CloseWatches ends every open watch, as a restarting store would.
func (s *fakeSource) CloseWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.watches) > 0 {
		s.closeLocked(s.watches[0])
	}
}

// DeleteQuietly removes an object without telling the watches, as if it
// went while nobody watched.
func (s *fakeSource) DeleteQuietly(o api.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs, objKey(o))
}

func (s *fakeSource) Lists(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists[kind]
}

func (s *fakeSource) notifyLocked(ev api.WatchEvent) {
	s.rv++
	s.history = append(s.history, fakeEvent{rv: s.rv, ev: ev})
	for _, w := range s.watches {
		if w.kind == api.KindOf(ev.Object).Kind {
			w.ch <- ev
		}
	}
}
