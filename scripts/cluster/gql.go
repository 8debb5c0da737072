package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// GQLError is one GraphQL error with its extensions.
type GQLError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code ("" when it has none).
func (e GQLError) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// GQLResponse is a GraphQL response.
type GQLResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []GQLError                 `json:"errors"`
}

// Code is the first error's code, "" when there is no error.
func (r GQLResponse) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	if c := r.Errors[0].Code(); c != "" {
		return c
	}
	return "UNCODED"
}

// GQLClient posts GraphQL requests to one gateway.
type GQLClient struct {
	URL   string // the gateway's base URL
	Token string // bearer token
	HTTP  *http.Client
}

// NewGQLClient returns a client of g with its own connections and a
// per-request timeout.
func NewGQLClient(g *Gateway, timeout time.Duration) *GQLClient {
	return &GQLClient{URL: g.URL, Token: g.Token, HTTP: &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// Do posts query with vars. A transport failure, a non-JSON answer or an
// HTTP status other than 200 is an error (the caller cannot know whether
// a mutation was recorded); GraphQL errors come back in the response.
func (c *GQLClient) Do(ctx context.Context, query string, vars map[string]any) (GQLResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return GQLResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return GQLResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return GQLResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return GQLResponse{}, err
	}
	var r GQLResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return GQLResponse{}, fmt.Errorf("HTTP %d, not JSON: %.200s", resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK && len(r.Errors) == 0 {
		return GQLResponse{}, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	}
	return r, nil
}
