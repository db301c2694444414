package tlsmgr

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/casketserver/casket/tlsmgr/cluster"
	"github.com/casketserver/casket/tlsmgr/cluster/file"
	"github.com/casketserver/casket/tlsmgr/cluster/postgres"
	"github.com/casketserver/casket/tlsmgr/cluster/redis"
	"go.uber.org/zap"
)

// ClusteringBackends are the valid values of CASKET_CLUSTERING.
var ClusteringBackends = []string{"file", "redis", "postgres"}

// StorageFromEnv builds the certificate storage selected by CASKET_CLUSTERING, reading settings through
// getenv (os.Getenv in the binary):
//
//   - file (the default): files in dir (the storage path), laid out as certmagic's FileStorage does, with
//     lease locks (package cluster/file); instances share the folder on a common mount.
//   - redis: CASKET_CLUSTERING_REDIS_HOST (127.0.0.1), _PORT (6379), _DB (0), _PASSWORD, _KEY_PREFIX
//     ("casket") and _TLS ("true" to connect with TLS).
//   - postgres: CASKET_CLUSTERING_POSTGRES_DSN, or the standard PGHOST, PGPORT, PGUSER, PGPASSWORD,
//     PGDATABASE and PGSSLMODE.
//
// CASKET_CLUSTERING_AESKEY, if set, encrypts every stored value with AES-GCM (see cluster.ParseAESKey).
// CASKET_UUID_FILE names a file holding this instance's identity (created when missing), recorded as the
// holder of its locks; without it each process gets a random identity. A redis or postgres backend must
// answer within a few seconds (ctx may shorten that), else StorageFromEnv fails. The caller closes the
// returned storage when it implements io.Closer (all three do: that releases held locks).
func StorageFromEnv(ctx context.Context, getenv func(string) string, dir string, log *zap.Logger) (certmagic.Storage, error) {
	if log == nil {
		log = zap.NewNop()
	}
	kind := strings.ToLower(strings.TrimSpace(getenv("CASKET_CLUSTERING")))
	var (
		s   certmagic.Storage
		err error
	)
	switch kind {
	case "", "file":
		if err := prepareStorage(dir); err != nil {
			return nil, err
		}
		lock, err := lockOptions(getenv, log)
		if err != nil {
			return nil, err
		}
		fs, err := file.New(dir, file.Options{Lock: lock, Logger: log})
		switch {
		case err == nil:
			s = fs
		case kind == "" && errors.Is(err, file.ErrNoFileLocks):
			// nobody asked for a cluster: a single instance does not need lease locks, so a folder whose file
			// system has no working file locks still serves, with certmagic's plain lock files
			log.Warn("file locks do not work in the storage folder; using plain lock files, which are fine for "+
				"one instance but not for several sharing the folder", zap.String("folder", dir), zap.Error(err))
			s = &certmagic.FileStorage{Path: dir}
		default:
			return nil, fmt.Errorf("CASKET_CLUSTERING=file: %w", err)
		}
	case "redis", "postgres":
		s, err = clusteredStorage(ctx, kind, getenv, log)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("CASKET_CLUSTERING=%q: unknown storage; valid values: %s", kind, strings.Join(ClusteringBackends, ", "))
	}
	if k := getenv("CASKET_CLUSTERING_AESKEY"); k != "" {
		key, err := cluster.ParseAESKey(k)
		if err == nil {
			s, err = cluster.NewEncrypted(s, key)
		}
		if err != nil {
			closeStorage(s)
			return nil, fmt.Errorf("CASKET_CLUSTERING_AESKEY: %w", err)
		}
	}
	log.Info("certificate storage", zap.String("storage", fmt.Sprint(s)))
	return s, nil
}

// lockOptions returns the lock settings of every storage: this instance's identity (CASKET_UUID_FILE) and
// the lock logger.
func lockOptions(getenv func(string) string, log *zap.Logger) (cluster.LockOptions, error) {
	holder, err := cluster.InstanceID(getenv("CASKET_UUID_FILE"))
	if err != nil {
		return cluster.LockOptions{}, fmt.Errorf("CASKET_UUID_FILE: %w", err)
	}
	return cluster.LockOptions{Holder: holder, Logger: log.Named("lock")}, nil
}

func clusteredStorage(ctx context.Context, kind string, getenv func(string) string, log *zap.Logger) (certmagic.Storage, error) {
	lock, err := lockOptions(getenv, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if kind == "postgres" {
		s, err := postgres.New(ctx, postgres.Options{DSN: postgresDSN(getenv), Lock: lock, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("CASKET_CLUSTERING=postgres: %w", err)
		}
		return s, nil
	}
	host := cmp.Or(getenv("CASKET_CLUSTERING_REDIS_HOST"), "127.0.0.1")
	port := cmp.Or(getenv("CASKET_CLUSTERING_REDIS_PORT"), "6379")
	db := 0
	if v := getenv("CASKET_CLUSTERING_REDIS_DB"); v != "" {
		if db, err = strconv.Atoi(v); err != nil || db < 0 {
			return nil, fmt.Errorf("CASKET_CLUSTERING_REDIS_DB=%q: want a database number", v)
		}
	}
	var tc *tls.Config
	if v := getenv("CASKET_CLUSTERING_REDIS_TLS"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("CASKET_CLUSTERING_REDIS_TLS=%q: want true or false", v)
		}
		if on {
			tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
	}
	s := redis.New(redis.Options{
		Addr: net.JoinHostPort(host, port), DB: db, Password: getenv("CASKET_CLUSTERING_REDIS_PASSWORD"),
		KeyPrefix: getenv("CASKET_CLUSTERING_REDIS_KEY_PREFIX"), TLS: tc, Lock: lock, Logger: log,
	})
	if err := cluster.Retry(ctx, func() error { return s.Ping(ctx) }); err != nil {
		s.Close()
		return nil, fmt.Errorf("CASKET_CLUSTERING=redis: %w", err)
	}
	return s, nil
}

// postgresDSN returns CASKET_CLUSTERING_POSTGRES_DSN, or a connection string of the PG* variables that
// getenv sets (the driver reads any other PG* variable from the process environment itself).
func postgresDSN(getenv func(string) string) string {
	if dsn := getenv("CASKET_CLUSTERING_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	var parts []string
	for _, kv := range [][2]string{{"host", "PGHOST"}, {"port", "PGPORT"}, {"user", "PGUSER"}, {"password", "PGPASSWORD"},
		{"dbname", "PGDATABASE"}, {"sslmode", "PGSSLMODE"}} {
		if v := getenv(kv[1]); v != "" {
			v = strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)
			parts = append(parts, kv[0]+"='"+v+"'")
		}
	}
	return strings.Join(parts, " ")
}

// closeStorage closes s if it holds connections.
func closeStorage(s certmagic.Storage) {
	if c, ok := s.(interface{ Close() error }); ok {
		_ = c.Close()
	}
}
