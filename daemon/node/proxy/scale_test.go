package proxy

import (
	"fmt"
	"testing"
)

// BenchmarkRules measures rule generation for n services with 3 endpoints
// each; 1,000 services is the figure docs/benchmarks.md quotes.
func BenchmarkRules(b *testing.B) {
	for _, n := range []int{100, 1000} {
		ss, es := manyServices(n, 3)
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				size = len(Rules(ss, es, testRulesConfig))
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
