package rpc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestListingSlots: listings beyond the slots wait; beyond the queue, or
// past their deadline, they are refused with ErrTooManyListings.
func TestListingSlots(t *testing.T) {
	l := newListings(1)
	release, err := l.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waited := make(chan error, listingQueuePerSlot)
	for range listingQueuePerSlot {
		go func() {
			r, err := l.acquire(ctx)
			if err == nil {
				r()
			}
			waited <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.waiting.Load() < listingQueuePerSlot {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want %d", l.waiting.Load(), listingQueuePerSlot)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := l.acquire(context.Background()); !errors.Is(err, ErrTooManyListings) {
		t.Fatalf("over the queue: %v, want ErrTooManyListings", err)
	}
	release()
	for range listingQueuePerSlot {
		if err := <-waited; err != nil {
			t.Fatalf("a waiter: %v", err)
		}
	}
	hold, _ := l.acquire(context.Background())
	defer hold()
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if _, err := l.acquire(short); !errors.Is(err, ErrTooManyListings) {
		t.Fatalf("timed out waiting: %v, want ErrTooManyListings", err)
	}
}
