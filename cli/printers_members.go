package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/printers"
)

// printMembers writes the members table: NAME ADDRESS STATUS LEADER AGE,
// and API VERSION CLOCK when wide. The leader's row has a * in LEADER.
func printMembers(w io.Writer, l *api.MemberList, wide bool, now time.Time) error {
	header := []string{"NAME", "ADDRESS", "STATUS", "LEADER", "AGE"}
	if wide {
		header = append(header, "API", "VERSION", "CLOCK")
	}
	lines := [][]string{header}
	for _, m := range l.Items {
		leader := ""
		if m.Name == l.Leader {
			leader = "*"
		}
		row := []string{m.Name, printers.OrNone(m.Address), printers.OrNone(m.State), leader, printers.Age(m.Since, now)}
		if wide {
			row = append(row, printers.OrNone(m.APIAddress), printers.UnknownIfEmpty(m.Version), memberClock(l.Self, &m))
		}
		lines = append(lines, row)
	}
	return printTable(w, lines)
}

// memberClock is the CLOCK cell: the member's offset from the answering
// agent's clock, with its uncertainty.
func memberClock(self string, m *api.Member) string {
	switch {
	case m.Name == self:
		return "(reference)"
	case m.Clock == nil:
		return "<unknown>"
	}
	off := m.Clock.Offset
	if !strings.HasPrefix(off, "-") {
		off = "+" + off
	}
	cell := off + "±" + m.Clock.Uncertainty
	if m.Clock.Skewed {
		cell += " SKEWED"
	}
	return cell
}

// clockWarnings names the members whose clocks are off by more than the
// maximum offset, or whose writes were refused for being stamped in the
// future, so that whoever lists the members learns which host to fix.
func clockWarnings(w io.Writer, l *api.MemberList) {
	for _, m := range l.Items {
		switch {
		case m.Clock != nil && m.Clock.Skewed:
			fmt.Fprintf(w, "warning: the clock of %s is %s off %s's (more than the maximum clock offset): writes stamped beyond it are refused; check NTP on both hosts\n",
				m.Name, m.Clock.Offset, l.Self)
		case m.FutureWritesRefused > 0:
			fmt.Fprintf(w, "warning: %s refused %d writes of %s stamped beyond its clock plus the maximum clock offset (last %s); check NTP on both hosts\n",
				l.Self, m.FutureWritesRefused, m.Name, m.LastFutureWriteRefused.UTC().Format(time.RFC3339))
		}
	}
}
