// Package hostexec lets the agent run the host's own network tools when it
// runs as a container of the FROM scratch image, which holds the shoal
// binary and nothing else.
//
// The agent runs iptables, iptables-save, iptables-restore, nsenter, ip and
// conntrack by name. The image links each of those names to the shoal
// binary and sets SHOAL_HOST_ROOT to /host, where `docker run -v /:/host:ro
// -v /run:/host/run` puts the host's file system (/run writable for the
// xtables lock that iptables shares with the engine).
// Started under one of those names with that variable set, the binary
// changes its root to the host's and executes the host's program of that
// name in its own place: same arguments, standard streams and exit code.
// The rules are then written by the very iptables the host's Docker Engine
// uses (legacy or nft), with the host's xtables lock.
package hostexec
