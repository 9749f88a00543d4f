package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

func openPostgres(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: postgres url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqlstore: postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	lctx, stopListen := context.WithCancel(context.Background())
	listened := make(chan struct{})
	s := &Store{
		d: dialect{
			name:   "postgres",
			rebind: func(q string) string { return q },
			isForeignKey: func(err error) bool {
				var pe *pgconn.PgError
				return errors.As(err, &pe) && pe.Code == "23503"
			},
			snapshotIsolation: sql.LevelRepeatableRead,
			isUnique: func(err error) bool {
				var pe *pgconn.PgError
				return errors.As(err, &pe) && pe.Code == "23505"
			},
			lockMigrations: `SELECT pg_advisory_xact_lock(7295019)`,
		},
		w: db,
		r: db,
		close: func() error {
			stopListen()
			<-listened
			err := db.Close()
			pool.Close()
			return err
		},
	}
	go func() {
		defer close(listened)
		s.listen(lctx, cfg.ConnConfig)
	}()
	return s, nil
}
