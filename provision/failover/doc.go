// Package failover holds tests only: in-process clusters with real
// provisioners (a throwaway Postgres, an in-process Kafka protocol) whose
// leader dies between a backend call and recording its result.
package failover
