// Package baseline measures what users would otherwise pick per request, for docs/benchmarks.md
// to set beside keyplane's verifier: a bcrypt compare (one vendor's storage scheme, applied per
// request) and a PostgreSQL lookup of the key's hash over loopback (a central key service).
package baseline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/verifier/apikey"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func BenchmarkBaseline(b *testing.B) {
	key, _ := apikey.Generate("kp", "live", rand.Reader)
	b.Run("sha256", func(b *testing.B) {
		kb := []byte(key)
		for i := 0; i < b.N; i++ {
			_ = sha256.Sum256(kb)
		}
	})
	b.Run("bcrypt-cost10-compare", func(b *testing.B) {
		h, err := bcrypt.GenerateFromPassword([]byte(key), 10) // a 57-byte key: under bcrypt's 72-byte cap
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if bcrypt.CompareHashAndPassword(h, []byte(key)) != nil {
				b.Fatal("mismatch")
			}
		}
	})
	b.Run("postgres-lookup/keys=100K", func(b *testing.B) {
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, pgtest.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, `CREATE TABLE keys (hash BYTEA PRIMARY KEY, id TEXT NOT NULL, scopes TEXT NOT NULL)`); err != nil {
			b.Fatal(err)
		}
		const n = 100_000
		keys := make([]string, n)
		rows := make([][]any, n)
		for i := range keys {
			keys[i], _ = apikey.Generate("kp", "live", rand.Reader)
			h := sha256.Sum256([]byte(keys[i]))
			rows[i] = []any{h[:], apikey.ID(h), `["events:write"]`}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"keys"}, []string{"hash", "id", "scopes"}, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h := sha256.Sum256([]byte(keys[i%n]))
			var id, scopes string
			if err := pool.QueryRow(ctx, `SELECT id, scopes FROM keys WHERE hash = $1`, h[:]).Scan(&id, &scopes); err != nil {
				b.Fatal(err)
			}
		}
	})
}
