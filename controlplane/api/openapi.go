package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openapiDoc is the API's OpenAPI 3 document; TestOpenAPIMatchesRoutes keeps it and the routes
// in step.
//
//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(c *gin.Context) { c.Data(http.StatusOK, "application/json", openapiDoc) }
