// Package pgtest gives Go tests and benchmarks a real PostgreSQL server.
//
// Usage:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.NewDatabase(t) // fresh, empty database; dropped in t.Cleanup
//		...
//	}
//
// If DATABASE_URL is set, databases are created in (and dropped from) that
// server and no server is started. Otherwise one throwaway server per test
// process is started lazily, on the first NewDatabase/ServerURL call, from the
// initdb/pg_ctl found on PATH or under /usr/lib/postgresql/<newest>/bin, and
// stopped by Run. A package that uses NewDatabase must therefore call Run from
// its TestMain, or the server outlives the test binary.
//
// When PostgreSQL cannot be found or started, tests are skipped with the
// reason, unless CI is set or KEYPLANE_REQUIRE_POSTGRES=1, in which case they
// fail: CI must never pass by silently skipping the database tests.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// server is the state of the lazily started per-process PostgreSQL server.
// It is the package's only global; once guards start, and Run reads it only
// after m.Run has returned, when no test can still be calling start.
type server struct {
	once    sync.Once
	err     error  // why the server is unavailable; cached so every test reports it
	baseURL string // postgres://user@host:port (no database, no query)
	query   string // query string to append to DSNs, e.g. "sslmode=disable"
	adminDB string // database used for CREATE/DROP DATABASE; "" means "as in DATABASE_URL"

	// Set only when this process started the server (stop needs them).
	started bool
	dir     string   // temp dir holding data/, sock/ and postgres.log
	pgCtl   string   // path of pg_ctl
	runAs   []string // command prefix to drop root, e.g. runuser -u postgres --
}

var srv server

// Run runs the tests, then stops the server this process started, if any,
// and removes its files. Use it as os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if srv.started {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
	return code
}

// NewDatabase creates a fresh, empty database and returns its DSN
// (postgres://postgres@127.0.0.1:PORT/kp_xxx?sslmode=disable for the
// self-started server). The database is dropped WITH (FORCE) in t.Cleanup,
// so connections a test forgets to close do not make the drop fail.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s := get(t)
	name := "kp_" + randomHex(8)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The name is generated here, so quoting is not needed; CREATE DATABASE
	// cannot take a bind parameter anyway.
	if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.dsn(name)
}

// ServerURL returns the DSN of the maintenance database, for tests that need
// several databases or a connection outside any test database (LISTEN/NOTIFY).
// For the self-started server that is the "postgres" database; with
// DATABASE_URL it is DATABASE_URL itself.
func ServerURL(t testing.TB) string {
	t.Helper()
	s := get(t)
	if s.adminDB == "" {
		return os.Getenv("DATABASE_URL")
	}
	return s.dsn(s.adminDB)
}

// get returns the server, starting it on first use, or ends the test.
func get(t testing.TB) *server {
	t.Helper()
	srv.once.Do(srv.init)
	if srv.err == nil {
		return &srv
	}
	// An explicitly configured server that does not work is always a failure.
	if os.Getenv("DATABASE_URL") != "" || os.Getenv("CI") != "" || os.Getenv("KEYPLANE_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("pgtest: PostgreSQL unavailable: %v", srv.err)
	}
	t.Skipf("pgtest: PostgreSQL unavailable, skipping (`make test` installs it): %v", srv.err)
	return nil
}

// init configures the server from DATABASE_URL or starts a private one.
func (s *server) init() {
	if raw := os.Getenv("DATABASE_URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			// Not echoed: it may contain a password.
			s.err = errors.New("DATABASE_URL must be a postgres:// or postgresql:// URL")
			return
		}
		s.query = u.RawQuery
		u.Path, u.RawPath, u.RawQuery, u.Fragment = "", "", "", ""
		s.baseURL = u.String()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "SELECT 1"); err != nil {
			s.err = fmt.Errorf("DATABASE_URL: %w", err)
		}
		return
	}
	s.err = s.start()
}

// adminURL is the DSN the CREATE/DROP DATABASE statements run on.
func (s *server) adminURL() string {
	if s.adminDB == "" {
		return os.Getenv("DATABASE_URL")
	}
	return s.dsn(s.adminDB)
}

// dsn returns the DSN of database db on this server.
func (s *server) dsn(db string) string {
	d := s.baseURL + "/" + db
	if s.query != "" {
		d += "?" + s.query
	}
	return d
}

// exec runs one statement on the admin database over a short-lived connection.
func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// start creates a cluster in a fresh temp dir and starts it on a fresh port.
// A fresh dir and port per run means a server leaked by a killed test
// process can never collide with this one.
func (s *server) start() error {
	bin, err := findBinDir()
	if err != nil {
		return err
	}
	s.pgCtl = filepath.Join(bin, "pg_ctl")

	// initdb (and postgres) refuse to run as root, so as root run them as an
	// unprivileged user that owns the data and socket directories.
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		var name string
		name, uid, gid, err = unprivilegedUser()
		if err != nil {
			return err
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			runuser = "/usr/sbin/runuser" // often not on a non-login PATH
		}
		s.runAs = []string{runuser, "-u", name, "--"}
	}

	root := tempRoot()
	s.reapStale(root)
	if s.dir, err = os.MkdirTemp(root, dirPrefix); err != nil {
		return err
	}
	// Record the owning test process so a later run can tell this server
	// is stale once that process is gone (see reapStale).
	if err := os.WriteFile(filepath.Join(s.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(s.dir)
		return err
	}
	dataDir := filepath.Join(s.dir, "data")
	sockDir := filepath.Join(s.dir, "sock")
	logFile := filepath.Join(s.dir, "postgres.log")
	fail := func(err error) error { os.RemoveAll(s.dir); return err }
	for _, d := range []string{dataDir, sockDir} {
		if err := os.Mkdir(d, 0o700); err != nil { // initdb insists on 0700/0750
			return fail(err)
		}
	}
	if err := os.WriteFile(logFile, nil, 0o600); err != nil {
		return fail(err)
	}
	if uid >= 0 {
		// The user must be able to traverse the temp dir and own what the
		// server writes: data dir, socket dir and log (pg_ctl opens the log
		// as that user).
		if err := os.Chmod(s.dir, 0o711); err != nil {
			return fail(err)
		}
		for _, p := range []string{dataDir, sockDir, logFile} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fail(err)
			}
		}
	}

	// --locale=C keeps the cluster independent of whatever locale the test
	// environment happens to have (initdb fails on a locale/encoding clash).
	// --no-sync only skips initdb's own fsyncs; the server keeps fsync and
	// synchronous_commit at their durable defaults so benchmarks measure
	// real commit costs.
	if out, err := s.run(filepath.Join(bin, "initdb"), "-D", dataDir, "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, tail(out)))
	}

	// The free port is found by binding :0 and releasing it, so another
	// process may grab it before postgres does; retry with a new port then.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		if err := os.Truncate(logFile, 0); err != nil { // only this attempt's log
			return fail(err)
		}
		opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c max_connections=200", port, sockDir)
		out, err := s.run(s.pgCtl, "start", "-w", "-t", "60", "-D", dataDir, "-l", logFile, "-o", opts)
		if err == nil {
			s.baseURL = "postgres://postgres@127.0.0.1:" + strconv.Itoa(port)
			s.query = "sslmode=disable"
			s.adminDB = "postgres"
			s.started = true
			return nil
		}
		log, _ := os.ReadFile(logFile)
		// pg_ctl may have given up waiting on a postmaster that is still
		// coming up; make sure nothing is left behind before retrying.
		s.run(s.pgCtl, "stop", "-D", dataDir, "-m", "immediate")
		if attempt < 3 && bytes.Contains(log, []byte("could not bind")) {
			continue
		}
		return fail(fmt.Errorf("pg_ctl start: %v\n%s\nserver log (tail):\n%s", err, tail(out), tail(log)))
	}
}

// stop shuts the self-started server down and removes its files.
func (s *server) stop() error {
	out, err := s.run(s.pgCtl, "stop", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "-t", "60")
	s.started = false
	if err != nil {
		// Keep the directory: the server may still be running from it.
		return fmt.Errorf("pg_ctl stop (files left in %s): %v\n%s", s.dir, err, tail(out))
	}
	return os.RemoveAll(s.dir)
}

const (
	dirPrefix = "keyplane-pgtest-"
	ownerFile = "owner.pid"
)

// reapStale stops and removes servers left by earlier test processes that
// died without reaching Run's cleanup (Ctrl-C, a -timeout panic, kill -9):
// pg_ctl detaches the postmaster into its own session, so it outlives them.
// A fresh dir and port already keep stale servers from breaking this run;
// this only stops them piling up. Best effort: errors are ignored, and a
// directory whose owner is alive, or unknown, is left alone.
func (s *server) reapStale(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || processAlive(pid) {
			continue
		}
		data := filepath.Join(dir, "data")
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
			s.run(s.pgCtl, "stop", "-D", data, "-m", "immediate", "-w", "-t", "30")
			if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
				continue // still running (or not ours to stop): keep its files
			}
		}
		os.RemoveAll(dir)
	}
}

// processAlive reports whether process pid exists (EPERM: exists, not ours).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// run runs a PostgreSQL tool (as the unprivileged user when root) and
// returns its combined output. It runs in "/" because the unprivileged user
// may not be allowed into the test's package directory; all paths are absolute.
func (s *server) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, s.runAs...), name), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// findBinDir returns the directory holding initdb, pg_ctl and postgres:
// the directory of initdb on PATH (symlinks resolved), else the newest
// /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH). The tools
// must come from one directory, since pg_ctl runs the postgres next to it.
func findBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		// PATH often holds just symlinks (e.g. /usr/local/bin/initdb ->
		// /usr/lib/postgresql/15/bin/initdb); the real dir has all the tools.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { // numeric, newest first: 16 > 9.6
		return pgVersion(versioned[i]) > pgVersion(versioned[j])
	})
	dirs = append(dirs, versioned...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("initdb/pg_ctl/postgres not found on PATH or under /usr/lib/postgresql/*/bin")
}

// pgVersion turns /usr/lib/postgresql/9.6/bin into 9.6 for sorting.
func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// unprivilegedUser picks the account to run PostgreSQL as when we are root.
func unprivilegedUser() (name string, uid, gid int, err error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil {
			return name, uid, gid, nil
		}
	}
	return "", 0, 0, errors.New("running as root, but neither user postgres nor nobody exists to run PostgreSQL as")
}

// tempRoot is where the server's temp dir goes. As root, TMPDIR may point
// into a directory (e.g. under /root) that the unprivileged user cannot
// traverse; fall back to /tmp then.
func tempRoot() string {
	root := os.TempDir()
	if os.Geteuid() != 0 {
		return root
	}
	for d := root; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return root
		}
	}
}

// freePort asks the kernel for a currently unused TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last few lines of b, to keep error messages readable.
func tail(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
