package sandbox

import (
	"fmt"
	"os"
	"strings"
)

// ResolvConfEnv names the environment variable that carries the pod's
// resolv.conf to the sandbox. On a user-defined network Docker always puts
// its embedded resolver (127.0.0.11) in the file, and that resolver adds a
// hop and its own limits to every lookup of a cluster name; the sandbox
// writes the file it is given over Docker's, and the pod's containers, which
// share the sandbox's file, ask the cluster DNS server directly.
const ResolvConfEnv = "SHOAL_RESOLV_CONF"

// ResolvConf is the content of a resolv.conf with the given name servers,
// search path and options.
func ResolvConf(servers, search, options []string) string {
	var b strings.Builder
	b.WriteString("# written by the shoal pod sandbox\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

// writeResolvConf writes content over path in place: the file is a bind
// mount, which a rename would not replace. Empty content leaves it alone.
func writeResolvConf(path, content string) error {
	if content == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
