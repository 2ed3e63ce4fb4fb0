package target

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkRedisClients measures what a session request sends, GET of the session then SET of
// its new state with EX, against a real redis-server on loopback: through RedisClient (what the
// worker runs) and through go-redis alone (what RedisClient's error wrapping costs); serial (one
// request at a time, as a worker of one thread mostly runs) and parallel over a pool of
// DefaultRedisPoolSize connections. Its "resp" case once ran this package's own RESP client,
// which go-redis replaced after this benchmark measured the two alike.
func BenchmarkRedisClients(b *testing.B) {
	srv := startRedis(b)
	ctx := context.Background()
	const key = redisSessionPrefix + "0123456789abcdef0123456789abcdef"
	type client struct {
		get   func(ctx context.Context, key string) error
		set   func(ctx context.Context, key, val string) error
		close func() error
	}
	clients := map[string]func() client{
		"RedisClient": func() client {
			c := NewRedisClient(srv.Addr, DefaultRedisPoolSize)
			return client{
				get:   func(ctx context.Context, key string) error { _, _, err := c.Get(ctx, key); return err },
				set:   func(ctx context.Context, key, val string) error { return c.Set(ctx, key, val, 30*time.Minute) },
				close: c.Close,
			}
		},
		"go-redis": func() client {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: DefaultRedisPoolSize, Protocol: 2, DisableIdentity: true})
			return client{
				get: func(ctx context.Context, key string) error {
					err := c.Get(ctx, key).Err()
					if err == redis.Nil {
						return nil
					}
					return err
				},
				set:   func(ctx context.Context, key, val string) error { return c.Set(ctx, key, val, 30*time.Minute).Err() },
				close: c.Close,
			}
		},
	}
	for _, name := range []string{"RedisClient", "go-redis"} {
		for _, parallel := range []bool{false, true} {
			mode := "serial"
			if parallel {
				mode = "parallel"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				c := clients[name]()
				defer c.close()
				op := func(i int) {
					if err := c.get(ctx, key); err != nil {
						b.Fatal(err)
					}
					if err := c.set(ctx, key, strconv.Itoa(i)); err != nil {
						b.Fatal(err)
					}
				}
				op(0) // dial outside the timing
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for i := 0; b.Loop(); i++ {
						op(i)
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						op(i)
					}
				})
			})
		}
	}
}
