// Package api is the control plane's REST API on Gin: workspaces, the key lifecycle, and central
// verification. Handlers validate input, call the store, and map its errors to HTTP; nothing
// below this package knows about HTTP.
package api

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/publish"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/controlplane/store"
)

// Clock tells the time; tests pass a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config configures a Server. Store and AdminToken are required; the rest has defaults.
type Config struct {
	Store      store.DataStore
	Keyring    publish.Keyring // snapshot signing keys; a new in-memory key when nil
	AdminToken string          // the bootstrap management token
	KeyLimit   int             // default maximum of active keys per workspace (1000)
	// SnapshotTTL is how long a signed snapshot or delta stays valid (24 h).
	SnapshotTTL time.Duration
	MaxBody     int64        // largest accepted request body in bytes (64 KiB)
	Clock       Clock        // time.Now by default
	Rand        io.Reader    // crypto/rand by default
	Logger      *slog.Logger // slog.Default() by default
}

// Server serves the REST API.
type Server struct {
	store      store.DataStore
	adminHash  [32]byte
	keyLimit   int
	maxBody    int64
	clock      Clock
	rand       io.Reader
	log        *slog.Logger
	limiter    *limiter
	keys       *keyCache
	keyring    publish.Keyring
	publisher  *publish.Publisher
	workspaces sync.Map // id -> store.Workspace; workspaces never change once created
	engine     *gin.Engine
}

// New builds a Server from cfg.
func New(cfg Config) *Server {
	s := &Server{
		store:     cfg.Store,
		adminHash: sha256.Sum256([]byte(cfg.AdminToken)),
		keyLimit:  cfg.KeyLimit,
		maxBody:   cfg.MaxBody,
		clock:     cfg.Clock,
		rand:      cfg.Rand,
		log:       cfg.Logger,
	}
	if s.keyLimit <= 0 {
		s.keyLimit = 1000
	}
	if s.maxBody <= 0 {
		s.maxBody = 64 << 10
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.limiter = newLimiter()
	s.keys = newKeyCache(cfg.Store)
	s.keyring = cfg.Keyring
	if s.keyring == nil {
		ring, err := signing.Generate(s.rand, s.clock.Now())
		if err != nil {
			panic("keyplane: no randomness for a signing key: " + err.Error())
		}
		s.keyring = signing.Static{R: ring}
	}
	if cfg.Store != nil {
		s.publisher = publish.New(publish.Config{Store: cfg.Store, Keys: s.keyring, Clock: s.clock, Logger: s.log, TTL: cfg.SnapshotTTL})
	}
	s.engine = s.routes()
	return s
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(s.accessLog, s.recover)
	e.NoRoute(func(c *gin.Context) { s.fail(c, notFound("no such endpoint"), "") })
	e.NoMethod(func(c *gin.Context) {
		s.fail(c, newError(http.StatusMethodNotAllowed, "invalid_request_error", apiv1.CodeMethodNotAllowed, "method not allowed on this endpoint"), "")
	})

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", s.openapi)

	v1 := e.Group("/v1", s.authenticate)
	v1.POST("/workspaces", s.requireAdmin, s.createWorkspace)
	v1.GET("/workspaces", s.requireAdmin, s.listWorkspaces)
	v1.GET("/workspaces/:id", s.require(scopeKeysRead, scopeKeysManage), s.getWorkspace)

	v1.POST("/keys", s.require(scopeKeysManage), s.createKey)
	v1.GET("/keys", s.require(scopeKeysRead, scopeKeysManage), s.listKeys)
	v1.DELETE("/keys", s.require(scopeKeysManage), s.revokeKeyByName)
	v1.POST("/keys/rotate", s.requireKey, s.selfRotate)
	v1.POST("/keys/verify", s.require(scopeKeysVerify, scopeKeysManage), s.verifyKey)
	v1.GET("/keys/:id", s.require(scopeKeysRead, scopeKeysManage), s.getKey)
	v1.PATCH("/keys/:id", s.require(scopeKeysManage), s.updateKey)
	v1.DELETE("/keys/:id", s.require(scopeKeysManage), s.revokeKey)
	v1.POST("/keys/:id/rotate", s.require(scopeKeysManage), s.rotateKey)

	v1.GET("/auth/verify", s.requireKey, s.authVerify)

	v1.GET("/snapshots/latest", s.require(scopeSnapshotsRead), s.latestSnapshot)
	v1.GET("/snapshots/delta", s.require(scopeSnapshotsRead), s.deltaSnapshot)
	v1.GET("/signing-keys", s.require(scopeSnapshotsRead, scopeKeysRead, scopeKeysManage), s.signingKeys)
	return e
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (s *Server) readyz(c *gin.Context) {
	if err := s.store.Ping(c.Request.Context()); err != nil {
		s.log.WarnContext(c.Request.Context(), "store not ready", "err", err)
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, apiv1.ErrorBody{Error: apiv1.Error{
			Type: "api_error", Code: apiv1.CodeUnavailable, Message: "the store does not answer"}})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// accessLog writes one structured line per request. It logs the route pattern, never the raw
// path, query or headers, so no key can reach the log even when a client misplaces one.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	attrs := []any{"method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if p, ok := c.Get(principalKey); ok {
		attrs = append(attrs, "principal", p.(*principal).String())
	}
	s.log.InfoContext(c.Request.Context(), "request", attrs...)
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.ErrorContext(c.Request.Context(), "panic in handler", "route", c.FullPath(), "panic", r)
			s.fail(c, newError(http.StatusInternalServerError, "api_error", apiv1.CodeInternal, "internal error"), "")
		}
	}()
	c.Next()
}
