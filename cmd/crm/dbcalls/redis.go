package dbcalls

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// RedisHook returns a go-redis hook (add it with AddHook) that counts every
// command the client sends by name, each command of a pipeline or a
// MULTI/EXEC block included, and the round trips. A command go-redis
// retries counts once. The handshake of a connection opened after the hook
// is added counts too (HELLO, CLIENT SETINFO...: a few commands per new
// connection); Pub/Sub subscriptions and the messages they receive do not.
func (c *Counters) RedisHook() redis.Hook { return redisHook{c} }

type redisHook struct{ c *Counters }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.c.commands.WithLabelValues(cmd.Name()).Inc()
		h.c.redisTrips.Inc()
		return next(ctx, cmd)
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.c.commands.WithLabelValues(cmd.Name()).Inc()
		}
		h.c.redisTrips.Inc()
		return next(ctx, cmds)
	}
}
