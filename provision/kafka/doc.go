// Package kafka provisions a namespace's topic on a declared Kafka target
// with github.com/segmentio/kafka-go's admin calls: CreateTopics,
// CreatePartitions, IncrementalAlterConfigs, DescribeConfigs and
// DeleteTopics, each answer read per topic.
//
// Kafka records no owner for a topic. The controller commits its intent
// (this topic is this namespace's) through raft before it creates one, and
// says so in Request.Owned; without it an existing topic is never altered
// or deleted (ErrForeign), and "already exists" is foreign too: a caller
// that committed no intent cannot tell its own timed-out create from
// someone else's. Kafka cannot fence by create revision either: that is
// the controller's, on the committed intent.
//
// Ensure grows partitions (never shrinks them) and sets, by incremental
// SET, only the managed config keys (plan.Resource.Configs) whose values
// differ; every other key of the topic is left as it is. Delete asks
// Kafka to delete and does not wait: Kafka deletes asynchronously, and the
// controller polls Observe until the topic is gone.
//
// Observe never uses a call that can create a topic (a Metadata request
// with auto-creation off, Kafka ≥ 0.11; DescribeConfigs), and reads
// metadata fresh from a broker each time: kafka-go's transport serves
// Metadata from a cache that lags CreatePartitions by up to its TTL.
//
// NOT_CONTROLLER and REQUEST_TIMED_OUT answers are retried a few times
// within a call (a timed-out create or partition increase may have been
// applied: the retry checks first). Targets are plain TCP: the declared
// brokers, no TLS or SASL.
package kafka
