// Package ipalloc allocates Services' cluster IPs and node ports when they
// are written, and repairs the rare duplicates that two agents can allocate
// at the same moment while they cannot see each other's writes.
package ipalloc
