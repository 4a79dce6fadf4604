package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/prism/controlplane/provision"
)

// kind is the provision sentinel for a failure of the client or a broker;
// nil for a context cancellation, which passes through.
func kind(err error) error {
	var ke kafkago.Error
	if errors.As(err, &ke) {
		return codeKind(ke)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return provision.ErrUnreachable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return provision.ErrUnreachable
	}
	return provision.ErrTransient
}

// codeKind classifies a Kafka error code.
func codeKind(e kafkago.Error) error {
	switch e {
	case kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed, kafkago.GroupAuthorizationFailed,
		kafkago.TransactionalIDAuthorizationFailed, kafkago.DelegationTokenAuthorizationFailed,
		kafkago.SASLAuthenticationFailed, kafkago.UnsupportedSASLMechanism, kafkago.IllegalSASLState,
		kafkago.TopicDeletionDisabled:
		return provision.ErrPermission
	case kafkago.InvalidConfiguration, kafkago.InvalidPartitionNumber, kafkago.InvalidReplicationFactor,
		kafkago.InvalidReplicaAssignment, kafkago.PolicyViolation, kafkago.InvalidTopic, kafkago.InvalidRequest,
		kafkago.UnsupportedVersion:
		return provision.ErrInvalid
	case kafkago.BrokerNotAvailable, kafkago.NetworkException:
		return provision.ErrUnreachable
	}
	return provision.ErrTransient
}

// wrap gives err its provision kind and context. Kafka targets hold no
// credentials, so no message can carry one.
func wrap(target, what string, err error) error {
	if err == nil {
		return nil
	}
	if k := kind(err); k != nil {
		return fmt.Errorf("%w: kafka target %q: %s: %w", k, target, what, err)
	}
	return fmt.Errorf("kafka target %q: %s: %w", target, what, err)
}

// retriable answers are sent again within a call.
func retriable(err error) bool {
	return errors.Is(err, kafkago.NotController) || errors.Is(err, kafkago.RequestTimedOut)
}
