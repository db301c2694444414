// Package timeouts implements the `timeouts` directive, which sets the server timeouts of a site's
// listener (the smallest value across the sites of one listener wins; the server applies that rule).
package timeouts

import (
	"time"

	"github.com/casketserver/casket/casketfile"
	"github.com/casketserver/casket/httpserver"
)

// None is the value stored for a timeout written as `none` (or 0): no timeout at all.
const None = time.Duration(-1)

// Setup parses `timeouts dur|none` (all four timeouts) or the block form
//
//	timeouts {
//		read   dur|none
//		header dur|none
//		write  dur|none
//		idle   dur|none
//	}
//
// into s.Timeouts.
func Setup(d *casketfile.Dispenser, s *httpserver.Site) (httpserver.Middleware, error) {
	d.Next() // directive name
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		v, err := parse(d, args[0])
		if err != nil {
			return nil, err
		}
		s.Timeouts = httpserver.Timeouts{Read: v, ReadHeader: v, Write: v, Idle: v}
	default:
		return nil, d.Errf("expected one duration or `none`, got %d arguments", len(args))
	}
	hadBlock := false
	for d.NextBlock(0) {
		hadBlock = true
		if len(args) == 1 {
			return nil, d.Errf("use either `timeouts %s` or a block, not both", args[0])
		}
		var target *time.Duration
		sub := d.Val()
		switch sub {
		case "read":
			target = &s.Timeouts.Read
		case "header":
			target = &s.Timeouts.ReadHeader
		case "write":
			target = &s.Timeouts.Write
		case "idle":
			target = &s.Timeouts.Idle
		default:
			return nil, d.Errf("unknown subdirective %q (expected read, header, write or idle)", sub)
		}
		var val string
		if !d.AllArgs(&val) {
			return nil, d.Errf("%s: expected one duration (e.g. 30s) or `none`", sub)
		}
		v, err := parse(d, val)
		if err != nil {
			return nil, err
		}
		*target = v
	}
	if len(args) == 0 && !hadBlock {
		return nil, d.Errf("expected a duration (e.g. `timeouts 30s`), `none`, or a block")
	}
	return nil, nil
}

// parse reads a timeout value: a positive Go duration, or `none`/0 meaning no timeout.
func parse(d *casketfile.Dispenser, v string) (time.Duration, error) {
	if v == "none" || v == "0" {
		return None, nil
	}
	dur, err := time.ParseDuration(v)
	if err != nil {
		return 0, d.Errf("invalid duration %q (use a value like 30s, 2m or `none`)", v)
	}
	if dur < 0 {
		return 0, d.Errf("negative duration %q (use `none` to disable the timeout)", v)
	}
	if dur == 0 {
		return None, nil
	}
	return dur, nil
}
