package resourceusage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// userHZ is the unit of /proc/stat's CPU times: 100 per second on every
// Linux architecture Go supports.
const userHZ = 100

// readNode reads the host's CPU time used and memory working set from
// procRoot (/proc): the busy time of every CPU (all but idle and iowait)
// and MemTotal minus MemAvailable.
func readNode(procRoot string, now time.Time) (engine.ContainerStats, error) {
	stat, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return engine.ContainerStats{}, fmt.Errorf("node cpu: %w", err)
	}
	busy, err := parseProcStat(stat)
	if err != nil {
		return engine.ContainerStats{}, err
	}
	meminfo, err := os.ReadFile(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return engine.ContainerStats{}, fmt.Errorf("node memory: %w", err)
	}
	total, avail, err := parseMeminfo(meminfo)
	if err != nil {
		return engine.ContainerStats{}, err
	}
	return engine.ContainerStats{Read: now, CPUUsageNanos: busy * (uint64(time.Second) / userHZ), MemoryUsage: total,
		InactiveFile: avail}, nil
}

// parseProcStat returns the busy jiffies of the "cpu" line of /proc/stat.
func parseProcStat(b []byte) (uint64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("node cpu: /proc/stat does not start with the cpu line")
	}
	var busy uint64
	for i, v := range f[1:] {
		if i >= 8 { // guest times are already counted in user and nice
			break
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("node cpu: /proc/stat field %d: %w", i+1, err)
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return busy, nil
}

// parseMeminfo returns MemTotal and MemAvailable in bytes.
func parseMeminfo(b []byte) (total, avail uint64, err error) {
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "MemTotal" && name != "MemAvailable") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("node memory: /proc/meminfo %s: %w", name, err)
		}
		if name == "MemTotal" {
			total, haveTotal = kb*1024, true
		} else {
			avail, haveAvail = kb*1024, true
		}
	}
	if !haveTotal || !haveAvail {
		return 0, 0, fmt.Errorf("node memory: /proc/meminfo lacks MemTotal or MemAvailable")
	}
	return total, avail, nil
}
