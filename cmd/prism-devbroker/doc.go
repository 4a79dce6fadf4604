// Command prism-devbroker serves the Kafka protocol from one process, with
// github.com/twmb/franz-go/pkg/kfake, so that `make run` and the tests have
// a Kafka target without a JVM.
//
// It is for `make run` and tests only, never production: kfake keeps
// topics in memory (or in --data-dir), replicates nothing, accepts config
// keys and partition counts that real Kafka refuses, and deletes topics at
// once where Kafka deletes them later. In production prismd points at a
// real Kafka cluster (--kafka-brokers).
//
// It listens on --addr (port 0 picks a free port; with --brokers N the
// brokers take consecutive ports from it), prints the bootstrap address
// list on stdout once every broker listens, writes the same line to
// --ready-file if given (atomically, so a script can wait for the file),
// and stops on SIGINT or SIGTERM. Topics are never created automatically.
package main
