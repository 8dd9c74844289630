// Package election chooses the leader the design asks for: the live member
// with the lowest name, once membership has been stable for a settle time.
package election
