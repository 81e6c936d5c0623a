//go:build unix

package sourcetest

import "syscall"

// CPUTime is the CPU time (user + system) this process has used so far, in
// nanoseconds, and whether it could be read. Benchmarks report it per row
// next to wall time: on a shared machine wall time says as much about the
// neighbours as about the code, and CPU time also counts the garbage
// collector's work on other cores.
func CPUTime() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
