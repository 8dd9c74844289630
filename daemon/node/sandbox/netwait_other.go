//go:build !unix

package sandbox

// WakeNetWait does nothing: the gate runs on Linux only.
func WakeNetWait(int) {}
