package kafka

import (
	"errors"
	"time"
)

// Config tunes the provisioner. Zero values are invalid; start from
// DefaultConfig.
type Config struct {
	// RequestTimeout bounds one admin request's round trip; Kafka is given
	// half of it to do the work (kafka-go's convention). Default 10 s.
	RequestTimeout time.Duration
	// DialTimeout bounds connecting to a broker. Default 5 s.
	DialTimeout time.Duration
	// Attempts is how many times a call answered NOT_CONTROLLER or
	// REQUEST_TIMED_OUT is sent in all, before it fails as transient.
	// Default 4.
	Attempts int
	// Backoff is the wait before the first retry; it doubles for each
	// next. Default 100 ms.
	Backoff time.Duration
	// Settle bounds how long Ensure waits for a topic it created, or
	// partitions it added, to show in a broker's metadata (Kafka
	// propagates them asynchronously). Default 5 s.
	Settle time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		RequestTimeout: 10 * time.Second,
		DialTimeout:    5 * time.Second,
		Attempts:       4,
		Backoff:        100 * time.Millisecond,
		Settle:         5 * time.Second,
	}
}

// Validate reports every out-of-range field.
func (c Config) Validate() error {
	var errs []error
	if c.RequestTimeout < 10*time.Millisecond {
		errs = append(errs, errors.New("kafka: RequestTimeout must be at least 10ms"))
	}
	if c.DialTimeout < 10*time.Millisecond {
		errs = append(errs, errors.New("kafka: DialTimeout must be at least 10ms"))
	}
	if c.Attempts < 1 || c.Attempts > 20 {
		errs = append(errs, errors.New("kafka: Attempts must be 1..20"))
	}
	if c.Backoff < time.Millisecond || c.Backoff > time.Minute {
		errs = append(errs, errors.New("kafka: Backoff must be 1ms..1m"))
	}
	if c.Settle < 0 {
		errs = append(errs, errors.New("kafka: Settle must not be negative"))
	}
	return errors.Join(errs...)
}
