package cluster

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// retryDelays is the backoff between attempts of one storage call against an unreachable backend: about
// 3.5 seconds in all, so a restarting Redis or PostgreSQL does not fail the work in flight.
var retryDelays = [...]time.Duration{100 * time.Millisecond, 400 * time.Millisecond, time.Second, 2 * time.Second}

// Retry runs op until it succeeds, returns fs.ErrNotExist or ErrLeaseLost, ctx ends or the attempts are used up, and
// returns op's last error. Backends wrap every network call in it.
func Retry(ctx context.Context, op func() error) error { return retry(ctx, op) }

func retry(ctx context.Context, op func() error) error {
	var err error
	for i := 0; ; i++ {
		err = op()
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrLeaseLost) || ctx.Err() != nil || i == len(retryDelays) {
			return err
		}
		t := time.NewTimer(retryDelays[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
