package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"
)

// newLogger builds the root process logger from -log, -log-format, -log-level, -log-timestamps and the
// rotation flags. An empty -log discards the process log, as Casket does. The returned closer flushes and
// closes the destination.
func newLogger(c *config, stdout, stderr io.Writer) (*zap.Logger, io.Closer, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, nil, fmt.Errorf("invalid -log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	var (
		w      io.Writer
		closer io.Closer = nopCloser{}
	)
	switch c.Log {
	case "":
		return zap.NewNop(), nopCloser{}, nil
	case "stdout":
		w = stdout
	case "stderr":
		w = stderr
	default:
		if err := os.MkdirAll(filepath.Dir(c.Log), 0o755); err != nil {
			return nil, nil, fmt.Errorf("opening process log: %w", err)
		}
		if c.LogRollMB > 0 {
			lj := &lumberjack.Logger{
				Filename:   c.Log,
				MaxSize:    c.LogRollMB,
				MaxBackups: 10,
				MaxAge:     14,
				Compress:   c.LogRollCompress,
			}
			w, closer = lj, lj
		} else {
			f, err := os.OpenFile(c.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, nil, fmt.Errorf("opening process log: %w", err)
			}
			w, closer = f, f
		}
	}

	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	if !c.LogTimestamps {
		enc.TimeKey = zapcore.OmitKey
	}
	var encoder zapcore.Encoder
	if c.LogFormat == "json" {
		encoder = zapcore.NewJSONEncoder(enc)
	} else {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	}
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core), closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
