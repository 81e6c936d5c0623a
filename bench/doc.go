// Package bench measures the figures commlog promises a user choosing a
// migration tool — how close to HubSpot's rate limit an import runs, how
// fast the local pipeline is, how much memory an import needs, and how
// fast exports are — and checks each against its goal.
//
// Everything runs on 127.0.0.1: the sandbox, the imports and the exports
// run as separate `commlog` processes (so an import's peak RSS is its
// own), except the local-pipeline figure, which runs batch.Import
// in-process with the network stubbed out.
//
// bench/cmd/commlog-bench is the program `make bench` runs; it prints the
// table, writes bench/results.json and exits non-zero when a goal is
// missed. bench/README.md defines every figure precisely.
package bench
