// Command testapp is the small program inside the shoal-testapp images used by
// shoal's integration tests, benchmarks and examples. It is an HTTP server
// with liveness and readiness toggles, an HTTP client and load generator, a
// DNS lookup tool, TCP and UDP echo servers, and a set of process behaviours
// (exit codes, sleeps, crash loops, file and environment dumps).
//
// The first argument names the sub-command; with none, or when it starts
// with "-", the program runs "serve".
package main
