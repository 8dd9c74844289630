package engine

import (
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
)

// stateFromInspect reduces the engine's inspect document to a State.
func stateFromInspect(resp container.InspectResponse) State {
	var st State
	if resp.ContainerJSONBase != nil {
		st.ID = resp.ID
		st.Name = strings.TrimPrefix(resp.Name, "/")
		st.ImageID = resp.Image
		if s := resp.State; s != nil {
			st.Status = string(s.Status)
			st.Running = s.Running
			if s.Running {
				st.Pid = s.Pid
			}
			st.ExitCode = s.ExitCode
			st.OOMKilled = s.OOMKilled
			st.Error = s.Error
			st.StartedAt = parseEngineTime(s.StartedAt)
			st.FinishedAt = parseEngineTime(s.FinishedAt)
			// The engine stamps StartedAt after the start call returns and
			// FinishedAt from the runtime's exit, so a process that exits at
			// once can seem to finish before it started (by microseconds).
			if !st.FinishedAt.IsZero() && st.FinishedAt.Before(st.StartedAt) {
				st.FinishedAt = st.StartedAt
			}
			if s.Health != nil {
				st.Health = string(s.Health.Status)
			}
		}
	}
	if resp.Config != nil {
		st.Image = resp.Config.Image
		st.Labels = resp.Config.Labels
	}
	st.IPAddress = ipAddress(resp.NetworkSettings)
	return st
}

// ipAddress returns the address on the container's first network (by name,
// so the choice is stable), or the legacy top-level address of old engines.
func ipAddress(ns *container.NetworkSettings) string {
	if ns == nil {
		return ""
	}
	names := make([]string, 0, len(ns.Networks))
	for name, ep := range ns.Networks {
		if ep != nil && ep.IPAddress != "" {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		return ns.Networks[names[0]].IPAddress
	}
	// Deprecated upstream, but the one field older engines fill for the
	// default bridge.
	return ns.IPAddress
}

// parseEngineTime parses the engine's RFC 3339 times; the engine writes
// "0001-01-01T00:00:00Z" for "never", which becomes the zero time.
func parseEngineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return time.Time{}
	}
	return t
}

func summaryFromList(c container.Summary) Summary {
	names := make([]string, len(c.Names))
	for i, n := range c.Names {
		names[i] = strings.TrimPrefix(n, "/")
	}
	return Summary{
		ID:      c.ID,
		Names:   names,
		Image:   c.Image,
		Labels:  c.Labels,
		State:   string(c.State),
		Created: time.Unix(c.Created, 0),
	}
}

// eventFromMessage keeps the action as the engine wrote it (for example
// "health_status: healthy"). The actor's attributes hold the container's
// labels together with a few engine keys (name, image, exitCode, ...).
func eventFromMessage(m events.Message) Event {
	ev := Event{
		Action:      string(m.Action),
		ContainerID: m.Actor.ID,
		Labels:      m.Actor.Attributes,
		ExitCode:    m.Actor.Attributes["exitCode"],
	}
	switch {
	case m.TimeNano != 0:
		ev.Time = time.Unix(0, m.TimeNano)
	case m.Time != 0:
		ev.Time = time.Unix(m.Time, 0)
	}
	return ev
}
