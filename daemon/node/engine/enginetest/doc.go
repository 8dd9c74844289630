// Package enginetest holds test doubles and helpers for engine.Engine: Fake,
// a scriptable in-memory engine (images, containers with exit scripts,
// events, logs, exec), and helpers that give integration tests the local
// Docker Engine and a small test image.
package enginetest
