// Package postgres is a certmagic.Storage in PostgreSQL. Values live in casket_storage (key text primary
// key, with a text_pattern_ops index so that List and recursive Delete read only the keys under a prefix).
// Locks are leases (see package cluster) in casket_locks: one row per lock with holder, token, expiry and
// a fencing token from the sequence casket_fence, taken, extended and released by single statements
// decided by the database clock, so instance clocks need not agree.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Options configure a Storage.
type Options struct {
	// DSN is a libpq connection string or URL; "" uses the standard PG* environment variables
	// (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...).
	DSN    string
	Lock   cluster.LockOptions
	Logger *zap.Logger
}

// Storage stores certificates in PostgreSQL. It is safe for concurrent use.
type Storage struct {
	*cluster.Locker
	pool *pgxpool.Pool
	desc string
}

const schema = `
SELECT pg_advisory_xact_lock(7305411);
CREATE TABLE IF NOT EXISTS casket_storage (
	key      text PRIMARY KEY,
	value    bytea NOT NULL,
	modified timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS casket_storage_prefix ON casket_storage (key text_pattern_ops);
CREATE TABLE IF NOT EXISTS casket_locks (
	name    text PRIMARY KEY,
	holder  text NOT NULL,
	token   text NOT NULL,
	fence   bigint NOT NULL,
	expires timestamptz NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS casket_fence;
`

// New connects to PostgreSQL and creates the tables if they are missing (instances starting together
// serialize on an advisory lock). ctx bounds the first connection, retried briefly.
func New(ctx context.Context, opts Options) (*Storage, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres connection settings: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Storage{pool: pool, desc: fmt.Sprintf("postgres://%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)}
	err = cluster.Retry(ctx, func() error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, schema)
			return err
		})
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: creating tables: %w", s.desc, err)
	}
	if opts.Lock.Logger == nil {
		opts.Lock.Logger = opts.Logger
	}
	s.Locker = cluster.NewLocker(lockBackend{pool}, opts.Lock)
	return s, nil
}

// Close releases held locks and closes the connections.
func (s *Storage) Close() error {
	s.Locker.Close()
	s.pool.Close()
	return nil
}

// String describes the storage for logs.
func (s *Storage) String() string { return s.desc }

// Store writes value at key. A write of a certificate whose issuance lock this instance holds is fenced:
// one statement checks that the lease is still this instance's (and keeps it from being taken until the
// write commits) and writes, else Store fails with cluster.ErrLeaseLost.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	g, fenced, err := s.GuardFor(key)
	if err != nil {
		return fmt.Errorf("storing %s in postgres: %w", key, err)
	}
	err = cluster.Retry(ctx, func() error {
		if !fenced {
			_, err := s.pool.Exec(ctx, `INSERT INTO casket_storage (key, value, modified) VALUES ($1, $2, now())
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, modified = EXCLUDED.modified`, key, value)
			return err
		}
		tag, err := s.pool.Exec(ctx, `WITH held AS (
				SELECT 1 FROM casket_locks WHERE name = $3 AND token = $4 AND expires > clock_timestamp() FOR SHARE)
			INSERT INTO casket_storage (key, value, modified) SELECT $1, $2, now() FROM held
			ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, modified = EXCLUDED.modified`, key, value, g.Lock, g.Token)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s (fencing token %d)", cluster.ErrLeaseLost, g.Lock, g.Fence)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("storing %s in postgres: %w", key, err)
	}
	return nil
}

// Load reads the value at key; fs.ErrNotExist if there is none.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	var b []byte
	err := cluster.Retry(ctx, func() error {
		err := s.pool.QueryRow(ctx, `SELECT value FROM casket_storage WHERE key = $1`, key).Scan(&b)
		if errors.Is(err, pgx.ErrNoRows) {
			return fs.ErrNotExist
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading %s from postgres: %w", key, err)
	}
	return b, nil
}

// likePrefix returns the LIKE pattern matching every key under dir.
func likePrefix(dir string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(dir) + "/%"
}

// Delete removes key and, if it is a directory, everything under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	err := cluster.Retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM casket_storage WHERE key = $1 OR key LIKE $2`, key, likePrefix(key))
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting %s from postgres: %w", key, err)
	}
	return nil
}

// Exists reports whether key is a stored value or a directory of them.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	var ok bool
	err := cluster.Retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM casket_storage WHERE key = $1 OR key LIKE $2)`,
			key, likePrefix(key)).Scan(&ok)
	})
	return err == nil && ok
}

// List returns the keys directly under dir, or all keys and directories below it when recursive.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	var keys []string
	err := cluster.Retry(ctx, func() error {
		keys = keys[:0]
		var rows pgx.Rows
		var err error
		if dir == "" {
			rows, err = s.pool.Query(ctx, `SELECT key FROM casket_storage ORDER BY key`)
		} else {
			rows, err = s.pool.Query(ctx, `SELECT key FROM casket_storage WHERE key LIKE $1 ORDER BY key`, likePrefix(dir))
		}
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s in postgres: %w", dir, err)
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
		mod  time.Time
	)
	err := cluster.Retry(ctx, func() error {
		err := s.pool.QueryRow(ctx, `SELECT octet_length(value), modified FROM casket_storage WHERE key = $1`, key).Scan(&size, &mod)
		if errors.Is(err, pgx.ErrNoRows) {
			return fs.ErrNotExist
		}
		return err
	})
	switch {
	case err == nil:
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: size, IsTerminal: true}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s in postgres: %w", key, err)
	case s.Exists(ctx, key):
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
}

// LockHolder reports who holds the lock name and until when; a lease the database clock says has run out
// is not held, even while its row remains.
func (s *Storage) LockHolder(ctx context.Context, name string) (string, time.Time, bool, error) {
	start := time.Now()
	var holder string
	var remainingMS int64
	err := s.pool.QueryRow(ctx, `SELECT holder, floor(extract(epoch FROM expires - clock_timestamp()) * 1000)::bigint
		FROM casket_locks WHERE name = $1 AND expires > clock_timestamp()`, name).Scan(&holder, &remainingMS)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("reading holder of lock %s in postgres: %w", name, err)
	}
	return holder, start.Add(time.Duration(remainingMS) * time.Millisecond), true, nil
}

// ExpireLock deletes the lock name whoever holds it, as if its lease had run out; for tests.
func (s *Storage) ExpireLock(ctx context.Context, name string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM casket_locks WHERE name = $1`, name)
	return err
}

// lockBackend implements cluster.LockBackend with single statements.
type lockBackend struct{ pool *pgxpool.Pool }

func (b lockBackend) Acquire(ctx context.Context, name, holder, token string, ttl time.Duration) (int64, bool, error) {
	var fence int64
	err := b.pool.QueryRow(ctx, `
		INSERT INTO casket_locks AS l (name, holder, token, fence, expires)
		VALUES ($1, $2, $3, nextval('casket_fence'), clock_timestamp() + $4 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE
			SET holder = EXCLUDED.holder, token = EXCLUDED.token, fence = EXCLUDED.fence, expires = EXCLUDED.expires
			WHERE l.expires < clock_timestamp()
		RETURNING fence`, name, holder, token, ttl.Milliseconds()).Scan(&fence)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("postgres: %w", err)
	}
	return fence, true, nil
}

func (b lockBackend) Extend(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	tag, err := b.pool.Exec(ctx, `UPDATE casket_locks SET expires = clock_timestamp() + $3 * interval '1 millisecond'
		WHERE name = $1 AND token = $2`, name, token, ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (b lockBackend) Release(ctx context.Context, name, token string) error {
	_, err := b.pool.Exec(ctx, `DELETE FROM casket_locks WHERE name = $1 AND token = $2`, name, token)
	return err
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
	_ cluster.Fencer             = (*Storage)(nil)
	_ cluster.LockInspector      = (*Storage)(nil)
)
