package clienttest

import (
	"context"

	"github.com/shoal-dev/shoal/api"
)

// SetMetrics sets what the resource metrics API (metrics.k8s.io) serves,
// as agents measure it: the usage of pods and of nodes.
func (s *Server) SetMetrics(pods []api.PodMetrics, nodes []api.NodeMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.podMetrics, s.nodeMetrics = pods, nodes
}

// metricsSource serves the readings SetMetrics set.
type metricsSource struct{ s *Server }

func (m metricsSource) PodMetrics(context.Context) ([]api.PodMetrics, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return append([]api.PodMetrics(nil), m.s.podMetrics...), nil
}

func (m metricsSource) NodeMetrics(context.Context) ([]api.NodeMetrics, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return append([]api.NodeMetrics(nil), m.s.nodeMetrics...), nil
}
