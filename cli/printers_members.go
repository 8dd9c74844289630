package cli

import (
	"io"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// printMembers writes the members table: NAME ADDRESS STATUS LEADER AGE,
// and API VERSION when wide. The leader's row has a * in LEADER.
func printMembers(w io.Writer, l *api.MemberList, wide bool, now time.Time) error {
	header := []string{"NAME", "ADDRESS", "STATUS", "LEADER", "AGE"}
	if wide {
		header = append(header, "API", "VERSION")
	}
	lines := [][]string{header}
	for _, m := range l.Items {
		leader := ""
		if m.Name == l.Leader {
			leader = "*"
		}
		row := []string{m.Name, orNone(m.Address), orNone(m.State), leader, age(m.Since, now)}
		if wide {
			row = append(row, orNone(m.APIAddress), unknownIfEmpty(m.Version))
		}
		lines = append(lines, row)
	}
	return printTable(w, lines)
}
