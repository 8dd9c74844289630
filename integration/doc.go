// Package integration runs real shoal agents against the real Docker Engine.
// The tests run when SHOAL_TEST_DOCKER=1 (scripts/test sets it, with
// SHOAL_BIN pointing at the built binary); then a missing engine fails them.
package integration
