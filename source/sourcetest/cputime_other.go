//go:build !unix

package sourcetest

// CPUTime is not measured on this platform: it reports false.
func CPUTime() (int64, bool) { return 0, false }
