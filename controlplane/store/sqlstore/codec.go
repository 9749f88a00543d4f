package sqlstore

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/keyplane/keyplane/controlplane/store"
)

// Times are stored as unix microseconds in both dialects.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func rateArgs(r *store.RateLimit) (sql.NullInt64, sql.NullInt64) {
	if r == nil {
		return sql.NullInt64{}, sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(r.Limit), Valid: true}, sql.NullInt64{Int64: int64(r.WindowSeconds), Valid: true}
}

func ratePtr(limit, window sql.NullInt64) *store.RateLimit {
	if !limit.Valid || !window.Valid {
		return nil
	}
	return &store.RateLimit{Limit: int(limit.Int64), WindowSeconds: int(window.Int64)}
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func nullText(b []byte) sql.NullString {
	if b == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}
