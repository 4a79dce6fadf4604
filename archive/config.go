package archive

import (
	"errors"
	"fmt"
	"time"
)

// Config is the archiver's behaviour. Where the archive lives is the
// Store's StoreConfig.
type Config struct {
	// BatchMax is the most changes written in one transaction. Under load
	// batches form on their own: what committed while a transaction was
	// in flight goes in the next.
	BatchMax int
	// BatchWait is the least time between two transactions while fewer
	// than BatchMax changes wait: under a steady load, fewer, larger
	// transactions (fewer commits for Postgres to flush) for at most this
	// much more lag. 0: write as soon as anything is there.
	BatchWait time.Duration
	// CheckpointEvery: write a full checkpoint of the state after this
	// many revisions since the last one, so a rebuild replays at most
	// about this many changes.
	CheckpointEvery int64
	// RetryMin and RetryMax bound the backoff after a failed write.
	RetryMin, RetryMax time.Duration
	// WriteTimeout bounds one transaction.
	WriteTimeout time.Duration
	// TrailInterval: how often a node that does not lead reads the
	// archive's cursor to trim its journal (Archiver.Trail).
	TrailInterval time.Duration
}

// DefaultConfig: batches of up to 2,000 changes at most every 100 ms (sooner
// when 2,000 wait), a checkpoint every
// 100,000 revisions, retries from 200 ms to 2 s (a Postgres back from an
// outage is written to within 2 s), 30 s per transaction; followers trim
// their journals to the archive's cursor every 2 s.
func DefaultConfig() Config {
	return Config{BatchMax: 2000, BatchWait: 100 * time.Millisecond, CheckpointEvery: 100_000, RetryMin: 200 * time.Millisecond, RetryMax: 2 * time.Second,
		WriteTimeout: 30 * time.Second, TrailInterval: 2 * time.Second}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.BatchMax < 1 {
		errs = append(errs, fmt.Errorf("batch_max must be at least 1, got %d", c.BatchMax))
	}
	if c.CheckpointEvery < 1 {
		errs = append(errs, fmt.Errorf("checkpoint_every must be at least 1, got %d", c.CheckpointEvery))
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("retry bounds must satisfy 0 < min <= max, got %v..%v", c.RetryMin, c.RetryMax))
	}
	if c.BatchWait < 0 {
		errs = append(errs, fmt.Errorf("batch_wait must not be negative, got %v", c.BatchWait))
	}
	if c.WriteTimeout <= 0 || c.TrailInterval <= 0 {
		errs = append(errs, errors.New("write_timeout and trail_interval must be positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}
