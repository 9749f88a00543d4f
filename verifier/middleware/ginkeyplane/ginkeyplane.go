// Package ginkeyplane adapts the keyplane middleware to Gin:
//
//	r := gin.New()
//	r.Use(ginkeyplane.Handler(m)) // m from middleware.New
package ginkeyplane

import (
	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/verifier/middleware"
)

// Handler decides each request with m: a denial is answered and the chain stops; an allowed
// request goes on with the identity headers set and the key removed.
func Handler(m *middleware.Middleware) gin.HandlerFunc {
	return func(c *gin.Context) {
		d := m.Decide(c.Request)
		if !d.Allowed {
			middleware.WriteDenial(c.Writer, &d)
			c.Abort()
			return
		}
		middleware.Forward(c.Request, m.Verifier(), &d)
		c.Next()
	}
}
