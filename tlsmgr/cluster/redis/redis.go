// Package redis is a certmagic.Storage on a single Redis server (or a primary with replicas; not Redis
// Cluster, whose scripts cannot span slots). Each value is a hash {v: bytes, m: modification time in
// milliseconds} under "<prefix>/k/<key>"; a sorted set "<prefix>/index" lists every key so that List and
// recursive Delete read only the keys under a prefix. Locks are leases (see package cluster): a hash
// "<prefix>/lock/<name>" {token, fence, holder} with a PX expiry, taken, extended and released by Lua
// scripts that compare the token, with fencing tokens from the counter "<prefix>/fence".
//
// Failover to a replica can lose a lock that was not yet replicated, so two holders are possible after a
// failover; use PostgreSQL where that matters.
package redis

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Options configure a Storage.
type Options struct {
	Addr      string      // host:port; "" means 127.0.0.1:6379
	DB        int         // database number
	Password  string      // AUTH password; "" for none
	KeyPrefix string      // prefix of every Redis key; "" means "casket"
	TLS       *tls.Config // non-nil connects with TLS
	Lock      cluster.LockOptions
	Logger    *zap.Logger
}

// Storage stores certificates in Redis. It is safe for concurrent use.
type Storage struct {
	*cluster.Locker
	client *goredis.Client
	prefix string
}

// New connects to Redis (lazily: the first command dials) and returns the storage.
func New(opts Options) *Storage {
	c := goredis.NewClient(&goredis.Options{
		Addr:         cmp.Or(opts.Addr, "127.0.0.1:6379"),
		DB:           opts.DB,
		Password:     opts.Password,
		TLSConfig:    opts.TLS,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
	})
	s := &Storage{client: c, prefix: cmp.Or(opts.KeyPrefix, "casket")}
	if opts.Lock.Logger == nil {
		opts.Lock.Logger = opts.Logger
	}
	s.Locker = cluster.NewLocker(lockBackend{s}, opts.Lock)
	return s
}

// Ping checks that Redis answers.
func (s *Storage) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", s.client.Options().Addr, err)
	}
	return nil
}

// Close releases held locks and closes the connections.
func (s *Storage) Close() error {
	s.Locker.Close()
	return s.client.Close()
}

// String describes the storage for logs.
func (s *Storage) String() string {
	return fmt.Sprintf("redis://%s/%d (prefix %s)", s.client.Options().Addr, s.client.Options().DB, s.prefix)
}

func (s *Storage) dataKey(key string) string  { return s.prefix + "/k/" + key }
func (s *Storage) indexKey() string           { return s.prefix + "/index" }
func (s *Storage) lockKey(name string) string { return s.prefix + "/lock/" + name }
func (s *Storage) fenceKey() string           { return s.prefix + "/fence" }

var storeScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'm', ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return 1`)

// fencedStoreScript is storeScript run only while the lock KEYS[3] is held by the token ARGV[4].
var fencedStoreScript = goredis.NewScript(`
if redis.call('HGET', KEYS[3], 'token') ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'm', ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return 1`)

// Store writes value at key. A write of a certificate whose issuance lock this instance holds is fenced:
// it happens only if the lease is still this instance's, else Store fails with cluster.ErrLeaseLost.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	g, fenced, err := s.GuardFor(key)
	if err != nil {
		return fmt.Errorf("storing %s in redis: %w", key, err)
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	err = cluster.Retry(ctx, func() error {
		if !fenced {
			return storeScript.Run(ctx, s.client, []string{s.dataKey(key), s.indexKey()}, value, now, key).Err()
		}
		n, err := fencedStoreScript.Run(ctx, s.client, []string{s.dataKey(key), s.indexKey(), s.lockKey(g.Lock)},
			value, now, key, g.Token).Int64()
		if err == nil && n == 0 {
			return fmt.Errorf("%w: %s (fencing token %d)", cluster.ErrLeaseLost, g.Lock, g.Fence)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("storing %s in redis: %w", key, err)
	}
	return nil
}

// Load reads the value at key; fs.ErrNotExist if there is none.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	var b []byte
	err := cluster.Retry(ctx, func() error {
		var err error
		b, err = s.client.HGet(ctx, s.dataKey(key), "v").Bytes()
		if errors.Is(err, goredis.Nil) {
			return fs.ErrNotExist
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading %s from redis: %w", key, err)
	}
	return b, nil
}

// deleteScript removes the key ARGV[1] and every key under ARGV[1]/ from data and index.
var deleteScript = goredis.NewScript(`
local index, data, key = KEYS[1], ARGV[2], ARGV[1]
redis.call('DEL', data .. key)
redis.call('ZREM', index, key)
local children = redis.call('ZRANGEBYLEX', index, '[' .. key .. '/', '(' .. key .. '0')
for _, c in ipairs(children) do
  redis.call('DEL', data .. c)
  redis.call('ZREM', index, c)
end
return #children`)

// Delete removes key and, if it is a directory, everything under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	err := cluster.Retry(ctx, func() error {
		return deleteScript.Run(ctx, s.client, []string{s.indexKey()}, key, s.prefix+"/k/").Err()
	})
	if err != nil {
		return fmt.Errorf("deleting %s from redis: %w", key, err)
	}
	return nil
}

// under returns every stored key below dir ("" for all).
func (s *Storage) under(ctx context.Context, dir string) ([]string, error) {
	lo, hi := "-", "+"
	if dir != "" {
		lo, hi = "["+dir+"/", "("+dir+"0" // '0' follows '/' in byte order
	}
	var keys []string
	err := cluster.Retry(ctx, func() error {
		var err error
		keys, err = s.client.ZRangeByLex(ctx, s.indexKey(), &goredis.ZRangeBy{Min: lo, Max: hi}).Result()
		return err
	})
	return keys, err
}

// Exists reports whether key is a stored value or a directory of them.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	var n int64
	err := cluster.Retry(ctx, func() error {
		var err error
		n, err = s.client.Exists(ctx, s.dataKey(key)).Result()
		return err
	})
	if err != nil {
		return false
	}
	if n > 0 {
		return true
	}
	keys, err := s.client.ZRangeByLex(ctx, s.indexKey(), &goredis.ZRangeBy{Min: "[" + key + "/", Max: "(" + key + "0", Count: 1}).Result()
	return err == nil && len(keys) > 0
}

// List returns the keys directly under dir, or all keys and directories below it when recursive.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	keys, err := s.under(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s in redis: %w", dir, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("listing %s: %w", dir, fs.ErrNotExist)
	}
	return cluster.ListKeys(dir, keys, recursive), nil
}

// Stat describes key.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	var (
		size int64
		mod  string
	)
	err := cluster.Retry(ctx, func() error {
		pipe := s.client.Pipeline()
		sz := pipe.HStrLen(ctx, s.dataKey(key), "v")
		m := pipe.HGet(ctx, s.dataKey(key), "m")
		_, err := pipe.Exec(ctx)
		if err != nil && !errors.Is(err, goredis.Nil) {
			return err
		}
		size, mod = sz.Val(), m.Val()
		return nil
	})
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s in redis: %w", key, err)
	}
	if mod != "" {
		ms, _ := strconv.ParseInt(mod, 10, 64)
		return certmagic.KeyInfo{Key: key, Modified: time.UnixMilli(ms), Size: size, IsTerminal: true}, nil
	}
	if s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
}

// lockBackend implements cluster.LockBackend with Lua scripts.
type lockBackend struct{ s *Storage }

var acquireScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local fence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'fence', fence, 'holder', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return fence`)

var extendScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

var releaseScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

func (b lockBackend) Acquire(ctx context.Context, name, holder, token string, ttl time.Duration) (int64, bool, error) {
	fence, err := acquireScript.Run(ctx, b.s.client, []string{b.s.lockKey(name), b.s.fenceKey()}, token, holder, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("redis: %w", err)
	}
	return fence, fence > 0, nil
}

func (b lockBackend) Extend(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	n, err := extendScript.Run(ctx, b.s.client, []string{b.s.lockKey(name)}, token, ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

func (b lockBackend) Release(ctx context.Context, name, token string) error {
	return releaseScript.Run(ctx, b.s.client, []string{b.s.lockKey(name)}, token).Err()
}

var holderScript = goredis.NewScript(`
local h = redis.call('HGET', KEYS[1], 'holder')
if not h then return {'', -2} end
return {h, redis.call('PTTL', KEYS[1])}`)

// LockHolder reports who holds the lock name and until when; Redis drops an expired lease by itself, so
// an expired lease is never reported.
func (s *Storage) LockHolder(ctx context.Context, name string) (string, time.Time, bool, error) {
	start := time.Now()
	res, err := holderScript.Run(ctx, s.client, []string{s.lockKey(name)}).Slice()
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("reading holder of lock %s in redis: %w", name, err)
	}
	if len(res) != 2 {
		return "", time.Time{}, false, fmt.Errorf("reading holder of lock %s in redis: unexpected reply %v", name, res)
	}
	holder, _ := res[0].(string)
	pttl, _ := res[1].(int64)
	if holder == "" || pttl == -2 || pttl == 0 {
		return "", time.Time{}, false, nil
	}
	var expires time.Time
	if pttl > 0 {
		expires = start.Add(time.Duration(pttl) * time.Millisecond)
	}
	return holder, expires, true, nil
}

// ExpireLock deletes the lock name whoever holds it, as if its lease had run out; for tests.
func (s *Storage) ExpireLock(ctx context.Context, name string) error {
	return s.client.Del(ctx, s.lockKey(name)).Err()
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
	_ cluster.Fencer             = (*Storage)(nil)
	_ cluster.LockInspector      = (*Storage)(nil)
)
