# The shoal agent's image: the static binary and nothing else.
#
# Build it with no registry at all (FROM scratch pulls nothing) from the
# binary the scripts build:
#
#   source scripts/lib.sh && build_shoal      # bin/shoal, static
#   DOCKER_BUILDKIT=0 docker build -t shoal:latest .
#
# (Dockerfile.multistage compiles the binary inside the build instead, for
# machines that can pull a Go image.) docs/install.md gives the docker run
# command the agent needs.
FROM scratch
COPY bin/shoal /usr/bin/shoal
# iptables, nsenter, ip and conntrack: links to shoal, which runs the host's
# own programs of those names below SHOAL_HOST_ROOT, where docker run mounts
# the host's root (docs/install.md). The exec form needs no shell.
RUN ["/usr/bin/shoal", "link-host-tools", "/usr/local/sbin"]
ENV PATH=/usr/local/sbin:/usr/bin \
    SHOAL_HOST_ROOT=/host
ENTRYPOINT ["/usr/bin/shoal"]
CMD ["agent"]
