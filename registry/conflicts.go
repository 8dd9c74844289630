package registry

import (
	"context"
	"fmt"
	"hash/crc64"
	"log/slog"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// RecordConflicts records every conflict the merges report (Conflicts) as
// a Warning Event on the object, naming the field and both writes (their
// agents, users and times), until ctx ends. Every agent that merges the
// two writes reports the same conflict: its Event has a name derived from
// the conflict, so the agents write one Event, not one each. host names
// this agent in the Event's source.
func (o *Registry) RecordConflicts(ctx context.Context, host string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-o.conflicts:
			ev, err := o.conflictEvent(c, host)
			if err != nil {
				log.Debug("conflict not recorded", "key", c.Key, "err", err)
				continue
			}
			log.Info("concurrent edits of one field: kept the newer", "object", ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name,
				"kind", ev.InvolvedObject.Kind, "field", fieldPath(c.Path), "kept", c.Winner.Version, "overwritten", c.Loser.Version)
			if _, err := o.Create(ctx, ev); err != nil && !api.IsAlreadyExists(err) && ctx.Err() == nil {
				log.Warn("recording a conflict event failed", "key", c.Key, "err", err)
			}
		}
	}
}

// conflictEvent builds the Event of a conflict; an object gone meanwhile
// has none.
func (o *Registry) conflictEvent(c Conflict, host string) (*api.Event, error) {
	k, ns, name, err := parseObjectKey(c.Key)
	if err != nil {
		return nil, err
	}
	obj, err := o.load(k, ns, name)
	if err != nil {
		return nil, err
	}
	m := obj.GetObjectMeta()
	evNS := ns
	if evNS == "" {
		evNS = "default"
	}
	var msg string
	if c.Path == "" {
		msg = fmt.Sprintf("edits made apart do not make a valid object together: kept the write of %s whole, the write of %s is overwritten",
			describeWrite(c.Winner), describeWrite(c.Loser))
	} else {
		msg = fmt.Sprintf("%s was edited on two agents apart: kept %s (%s), overwritten %s (%s)", fieldPath(c.Path),
			describeValue(c.Winner.Value), describeWrite(c.Winner), describeValue(c.Loser.Value), describeWrite(c.Loser))
	}
	id := crc64.Checksum([]byte(c.Key+"|"+c.Path+"|"+c.Winner.Version.String()+"|"+c.Loser.Version.String()), sumTable)
	base := name
	if len(base) > 200 {
		base = base[:200]
	}
	now := api.NewTime(o.now())
	return &api.Event{
		ObjectMeta: api.ObjectMeta{Namespace: evNS, Name: base + ".conflict-" + strconv.FormatUint(id, 16)},
		InvolvedObject: api.ObjectReference{Kind: k.Kind, APIVersion: k.APIVersion(), Namespace: ns,
			Name: name, UID: m.UID},
		Reason: ReasonConflictingEdits, Message: msg, Type: api.EventWarning,
		Source:         api.EventSource{Component: "registry", Host: host},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingComponent: "registry", ReportingInstance: host,
	}, nil
}

var sumTable = crc64.MakeTable(crc64.ECMA)

// describeWrite names a write for people: its user (when known), its
// agent and its time.
func describeWrite(w Write) string {
	at := gossip.TimeOf(w.Version.Time).UTC().Format("15:04:05.000")
	if w.User != "" {
		return fmt.Sprintf("by %s on agent %s at %s", w.User, w.Version.Node, at)
	}
	return fmt.Sprintf("on agent %s at %s", w.Version.Node, at)
}

// describeValue shows a field's value (JSON), clipped.
func describeValue(v []byte) string {
	if v == nil {
		return "(removed)"
	}
	s := strings.TrimSpace(string(v))
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
